// SSRF guard for customer-supplied webhook URLs. Three layers, because each alone has a gap:
// 1. checkWebhookUrlSyntax at registration: scheme, credentials, literal addresses, localhost names.
// 2. resolveAndCheck at registration: the name's current DNS answers must all be public.
// 3. pinnedLookup at connect time: DNS can change after registration (rebinding), so the address
//    the socket actually dials is checked again by the same rule.
// WEBHOOK_ALLOW_INSECURE_URLS (allowInsecure) lifts the address and scheme rules for tests and local
// development; it never allows credentials in the URL or schemes other than http(s).

import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** `local`: a refusal WEBHOOK_ALLOW_INSECURE_URLS would lift (http, loopback, private addresses or names). */
export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string; local?: true };

/**
 * The reason to show for a refused URL. A local one says how to allow it: a newcomer's first receiver is usually
 * http://localhost, and "must use https" alone does not tell them the server can be told otherwise.
 */
export function refusalReason(check: { reason: string; local?: true }): string {
  return check.local
    ? `${check.reason} (for a target on this machine or a private network, start the server with WEBHOOK_ALLOW_INSECURE_URLS=true, for local development only)`
    : check.reason;
}

interface HostAddress {
  address: string;
  family: number;
}
export type HostLookup = (host: string) => Promise<HostAddress[]>;

/** `code` on the error pinnedLookup hands to the socket, so the worker can log it as a refusal, not a network fault. */
export const ADDRESS_REFUSED_CODE = 'ERR_WEBHOOK_ADDRESS_REFUSED';

// IANA special-purpose IPv4 ranges that no public receiver lives in.
const NON_PUBLIC_V4 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network", includes the unspecified address
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, includes cloud metadata 169.254.169.254
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, includes broadcast 255.255.255.255
] as const) {
  NON_PUBLIC_V4.addSubnet(net, prefix, 'ipv4');
}

// IPv6 is judged by allowlist: only global unicast (2000::/3) can be public. That excludes ::, ::1,
// fc00::/7, fe80::/10, ff00::/8, discard and the rest in one rule; the carve-outs below are the
// special ranges inside 2000::/3.
const GLOBAL_UNICAST_V6 = new BlockList();
GLOBAL_UNICAST_V6.addSubnet('2000::', 3, 'ipv6');
const NON_PUBLIC_V6 = new BlockList();
for (const [net, prefix] of [
  ['2001::', 23], // IETF protocol assignments, includes Teredo
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: tunnels to an embedded IPv4 address, possibly a private one
  ['3fff::', 20], // documentation
] as const) {
  NON_PUBLIC_V6.addSubnet(net, prefix, 'ipv6');
}

function ipv6Groups(ip: string): number[] {
  let text = ip;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // A dotted-quad tail (::ffff:1.2.3.4) is the last two groups.
    const [a = 0, b = 0, c = 0, d = 0] = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    text = `${text.slice(0, lastColon + 1)}0`; // placeholder group, dropped below
  }
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const [head = '', rest] = text.split('::');
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  if (tail.length) {
    (rest === undefined ? left : right).pop();
  }
  const zeros = new Array<number>(8 - left.length - right.length - tail.length).fill(0);
  return [...left, ...zeros, ...right, ...tail];
}

// An IPv6 address that is only a wrapper for an IPv4 one is as public as that IPv4 address.
function embeddedIPv4(ip: string): string | null {
  const g = ipv6Groups(ip);
  const isMapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff; // ::ffff:0:0/96
  const isNat64 = g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0); // 64:ff9b::/96
  if (!isMapped && !isNat64) {
    return null;
  }
  const hi = g[6] ?? 0;
  const lo = g[7] ?? 0;
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** True when `ip` is an address a public webhook receiver could have; false for anything else, including non-IPs. */
export function isPublicAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) {
    return !NON_PUBLIC_V4.check(ip, 'ipv4');
  }
  if (family !== 6) {
    return false;
  }
  if (ip.includes('%')) {
    return false; // a zone id only makes sense for link-local addresses
  }
  const v4 = embeddedIPv4(ip);
  if (v4 !== null) {
    return !NON_PUBLIC_V4.check(v4, 'ipv4');
  }
  return GLOBAL_UNICAST_V6.check(ip, 'ipv6') && !NON_PUBLIC_V6.check(ip, 'ipv6');
}

// URL.hostname keeps IPv6 brackets and a trailing root dot ("localhost."); neither changes where we connect.
function bareHost(hostname: string): string {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost'); // RFC 6761: always loopback
}

export function checkWebhookUrlSyntax(raw: string, allowInsecure: boolean): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not a valid URL' };
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowInsecure)) {
    if (url.protocol === 'http:') {
      return { ok: false, reason: 'URL must use https', local: true };
    }
    return { ok: false, reason: allowInsecure ? 'URL must use http or https' : 'URL must use https' };
  }
  // Credentials would be stored and logged alongside the URL; receivers authenticate us by signature.
  if (url.username !== '' || url.password !== '') {
    return { ok: false, reason: 'URL must not contain credentials' };
  }
  const host = bareHost(url.hostname);
  if (host === '') {
    return { ok: false, reason: 'URL has no host' };
  }
  if (allowInsecure) {
    return { ok: true, url };
  }
  // WHATWG URL has already normalised 0x7f.1, 2130706433 and friends to dotted quads.
  if (isIP(host) !== 0 && !isPublicAddress(host)) {
    return { ok: false, reason: 'URL points to a non-public address', local: true };
  }
  if (isLocalhostName(host)) {
    return { ok: false, reason: 'URL points to localhost', local: true };
  }
  return { ok: true, url };
}

const systemLookup: HostLookup = (host) => dnsLookup(host, { all: true });

/**
 * Syntax check plus DNS: refuses when ANY answer is non-public, since the connection may use any of them.
 * Reasons never name the resolved address, nor tell an unknown name from a private one, so the API cannot be used
 * to map internal DNS.
 */
export async function resolveAndCheck(
  url: URL,
  allowInsecure: boolean,
  lookup: HostLookup = systemLookup,
): Promise<UrlCheck & { addresses?: string[] }> {
  const syntax = checkWebhookUrlSyntax(url.href, allowInsecure);
  if (!syntax.ok) {
    return syntax;
  }
  const host = bareHost(syntax.url.hostname);
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = (await lookup(host)).map((a) => a.address);
    } catch {
      addresses = [];
    }
  }
  // One reason for "no answer" and "a private answer": two would tell which internal names exist.
  if (addresses.length === 0 || (!allowInsecure && addresses.some((a) => !isPublicAddress(a)))) {
    // Marked local either way: whether the hint shows must not tell an unknown name from a private one either.
    return {
      ok: false,
      reason: `host ${host} does not resolve to a public address`,
      ...(allowInsecure ? {} : { local: true }),
    };
  }
  return { ok: true, url: syntax.url, addresses };
}

/** A URL given to us (webhook target, media to play), as checkWebhookUrlSyntax and then resolveAndCheck see it. */
export async function checkPublicUrl(raw: string, allowInsecure: boolean, lookup?: HostLookup): Promise<UrlCheck> {
  const syntax = checkWebhookUrlSyntax(raw, allowInsecure);
  return syntax.ok ? resolveAndCheck(syntax.url, allowInsecure, lookup) : syntax;
}

function familyOf(option: unknown): 0 | 4 | 6 {
  if (option === 4 || option === 'IPv4') {
    return 4;
  }
  if (option === 6 || option === 'IPv6') {
    return 6;
  }
  return 0;
}

/**
 * A `lookup` for net.connect / tls.connect / undici `connect.lookup`: resolves like dns.lookup and refuses
 * non-public answers at the moment of connecting, which defeats DNS rebinding after registration.
 * Sockets skip `lookup` for literal IPs, so those rely on checkWebhookUrlSyntax having run.
 * `resolve` is injectable for tests.
 */
export function pinnedLookup(allowInsecure: boolean, resolve: HostLookup = systemLookup): LookupFunction {
  return (hostname, options, cb) => {
    const opts = options as { family?: unknown; all?: unknown };
    const family = familyOf(opts.family);
    const literal = isIP(hostname);
    const answers = literal !== 0 ? Promise.resolve([{ address: hostname, family: literal }]) : resolve(hostname);
    answers.then(
      (found) => {
        const usable = family === 0 ? found : found.filter((a) => a.family === family);
        let error: NodeJS.ErrnoException | null = null;
        if (usable.length === 0) {
          error = Object.assign(new Error(`no addresses for ${hostname}`), { code: 'ENOTFOUND', hostname });
        } else if (!allowInsecure && found.some((a) => !isPublicAddress(a.address))) {
          error = Object.assign(new Error(`refusing to connect to ${hostname}: it resolves to a non-public address`), {
            code: ADDRESS_REFUSED_CODE,
            hostname,
          });
        }
        // nextTick: an exception thrown by the socket's callback must not become a rejected promise here.
        process.nextTick(() => {
          if (error) {
            cb(error, ''); // no address: the socket reports the error
          } else if (opts.all === true) {
            cb(
              null,
              usable.map((a) => ({ address: a.address, family: a.family })),
            );
          } else {
            const [first] = usable as [HostAddress, ...HostAddress[]];
            cb(null, first.address, first.family);
          }
        });
      },
      (err: unknown) => process.nextTick(() => cb(err as NodeJS.ErrnoException, '')),
    );
  };
}
