// EVOLUTION_ALLOWED_HOSTS: the Evolution Go servers a tenant's web number may name. A number's baseUrl is chosen by
// whoever holds a tenant key, and callgate sends its requests (with the instance token) wherever it points: on a
// callgate shared by several tenants, the operator lists the servers it runs so that no key can aim callgate at
// another host of its network.

/** One allowed server: a host name or IP, and a port, or null for any port. */
export interface AllowedHost {
  hostname: string;
  port: number | null;
}

/** null: every host is allowed (the default, for a callgate whose tenants are trusted). */
export type AllowedHosts = readonly AllowedHost[] | null;

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443, 'ws:': 80, 'wss:': 443 };

/**
 * Parses "host[:port],…" (IPv6 in brackets). The URL parser normalizes each host as it does the URLs checked later,
 * so "LOCALHOST" or "0x7f.1" name what a URL with them reaches. Returns an error text for a malformed entry.
 */
export function parseAllowedHosts(raw: string | undefined): { ok: true; hosts: AllowedHost[] } | { error: string } {
  const hosts: AllowedHost[] = [];
  for (const entry of (raw ?? '').split(',').map((part) => part.trim())) {
    if (entry === '') {
      continue;
    }
    const url = /[/?#@\s]/.test(entry) || !URL.canParse(`http://${entry}`) ? null : new URL(`http://${entry}`);
    if (!url || url.hostname === '') {
      return { error: `"${entry}" is not a host or host:port` };
    }
    // An explicit ":80" is the URL's default port, which the parser drops: keep it as the port named.
    const port = /:\d+$/.test(entry) ? Number(entry.slice(entry.lastIndexOf(':') + 1)) : null;
    hosts.push({ hostname: url.hostname, port });
  }
  return { ok: true, hosts };
}

/** Whether a request to `url` goes to an allowed server. */
export function isAllowedHost(url: string, allowed: AllowedHosts): boolean {
  if (allowed === null) {
    return true;
  }
  if (!URL.canParse(url)) {
    return false;
  }
  const parsed = new URL(url);
  const port = parsed.port === '' ? DEFAULT_PORTS[parsed.protocol] : Number(parsed.port);
  return allowed.some((a) => a.hostname === parsed.hostname && (a.port === null || a.port === port));
}

/** The text a refused baseUrl gets, at registration and at each request of a number registered before the list. */
export const HOST_NOT_ALLOWED = 'is not a server this callgate may reach (EVOLUTION_ALLOWED_HOSTS)';
