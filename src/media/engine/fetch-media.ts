// Downloads a `play` mediaUrl with the webhook SSRF guard: the URL's syntax is checked, every connection dials
// through the pinned lookup (no private, loopback or metadata address, even after a DNS change), redirects are
// followed at most 3 times and each target is checked again. A body over `maxBytes` is cut off, declared or not.

import type { IncomingMessage } from 'node:http';
import {
  ADDRESS_REFUSED_CODE,
  checkWebhookUrlSyntax,
  type HostLookup,
  pinnedLookup,
  refusalReason,
} from '../../webhooks/url-guard.ts';

// Not ES imports: they would load Node's bundled undici at start-up (see webhooks/sender.ts).
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

/** The download failed; `message` is safe to show the API client (it never names a resolved address). */
export class MediaFetchError extends Error {}

export interface FetchMediaOptions {
  maxBytes: number;
  timeoutMs: number;
  allowInsecure: boolean;
  lookup?: HostLookup;
  /** Gives the download up before its time limit (the call's media ended). */
  signal?: AbortSignal;
}

const MAX_REDIRECTS = 3;

// Agents of our own, not Node's global ones: with NODE_USE_ENV_PROXY those send every request to HTTP(S)_PROXY, which
// resolves the name itself, so the pinned lookup would judge only the proxy's address (the webhook sender does so too).
let agents: { http: InstanceType<typeof http.Agent>; https: InstanceType<typeof https.Agent> } | null = null;

function getOnce(url: URL, opts: FetchMediaOptions, signal: AbortSignal): Promise<IncomingMessage> {
  const secure = url.protocol === 'https:';
  const client = secure ? https : http;
  agents ??= { http: new http.Agent(), https: new https.Agent() };
  const agent = secure ? agents.https : agents.http;
  return new Promise((resolve, reject) => {
    const req = client.get(
      url,
      {
        agent,
        lookup: pinnedLookup(opts.allowInsecure, opts.lookup) as never,
        signal,
        headers: { accept: 'audio/*' },
      },
      resolve,
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A private answer and no answer read the same: two texts would tell which internal names exist.
      if (err.code === ADDRESS_REFUSED_CODE || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
        reject(new MediaFetchError("mediaUrl's host does not resolve to a public address"));
      } else if (signal.aborted) {
        reject(new MediaFetchError(`mediaUrl did not answer within ${opts.timeoutMs} ms`));
      } else {
        reject(new MediaFetchError(`could not fetch mediaUrl: ${err.code ?? err.message}`));
      }
    });
  });
}

export async function fetchMedia(raw: string, opts: FetchMediaOptions): Promise<Buffer> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  let target = raw;
  for (let hop = 0; ; hop++) {
    const checked = checkWebhookUrlSyntax(target, opts.allowInsecure);
    if (!checked.ok) {
      throw new MediaFetchError(`mediaUrl refused: ${refusalReason(checked)}`);
    }
    const res = await getOnce(checked.url, opts, signal);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) {
        throw new MediaFetchError('mediaUrl redirects too many times');
      }
      target = URL.canParse(res.headers.location, checked.url)
        ? new URL(res.headers.location, checked.url).href
        : res.headers.location; // the next hop's check refuses it: "not a valid URL"
      continue;
    }
    if (status !== 200) {
      res.resume();
      throw new MediaFetchError(`mediaUrl answered HTTP ${status}`);
    }
    const declared = Number(res.headers['content-length'] ?? Number.NaN);
    if (declared > opts.maxBytes) {
      res.destroy();
      throw new MediaFetchError(`media is larger than ${opts.maxBytes} bytes`);
    }
    return readCapped(res, opts, signal);
  }
}

function readCapped(res: IncomingMessage, opts: FetchMediaOptions, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > opts.maxBytes) {
        res.destroy();
        reject(new MediaFetchError(`media is larger than ${opts.maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', () =>
      reject(
        new MediaFetchError(
          signal.aborted ? `mediaUrl did not answer within ${opts.timeoutMs} ms` : 'download broke off',
        ),
      ),
    );
  });
}
