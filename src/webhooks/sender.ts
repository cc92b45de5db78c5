// One HTTP try of a webhook delivery over kept-alive connections. The worker claims, signs and records;
// the sender only POSTs.
import type { ClientRequest } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { AttemptOutcome } from '../metrics.ts';
import { ADDRESS_REFUSED_CODE, type HostLookup, pinnedLookup } from './url-guard.ts';

// Not ES imports: they would load Node's bundled undici at start-up for node:http's WebSocket export (meta/client.ts).
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

export interface SendRequest {
  /** Already checked by checkWebhookUrlSyntax; the address is checked again when a connection is opened. */
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

/** What one HTTP try gave. */
export interface TryResult {
  outcome: AttemptOutcome;
  statusCode: number | null;
  error: string | null;
  responseBody: string | null;
  /** The raw Retry-After header; the worker reads it with its clock. */
  retryAfter: string | null;
  /** Aborted by the worker's shutdown: not a try that counts. */
  aborted: boolean;
}

/** The answer body kept in the log: Pilot's logs show the first 4 KiB of it (docs/spec/pilot-compat.md §3). */
const MAX_RESPONSE_BYTES = 4096;
/** A longer answer is not read to its end: its connection is dropped instead of being kept alive. */
const MAX_DRAIN_BYTES = 64 * 1024;

/**
 * The kept bytes as text. Cut at MAX_RESPONSE_BYTES they may end inside a UTF-8 character: a StringDecoder leaves
 * that character out rather than decoding it to U+FFFD, so the log holds a true prefix of the answer, ≤ 4 KiB.
 */
function keptText(chunks: Buffer[], truncated: boolean): string | null {
  if (!chunks.length) {
    return null;
  }
  const bytes = Buffer.concat(chunks);
  return truncated ? new StringDecoder('utf8').write(bytes) : bytes.toString('utf8');
}
/**
 * Errors of a kept-alive connection that the receiver closed while it was idle. The request goes again on a new
 * connection only if it was never fully written: a receiver that read it may have acted on it, and one attempt is at
 * most one POST (a cut after that is a failed attempt, retried on the schedule).
 */
const STALE_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/**
 * Idle connections are dropped after this, before the common server keep-alive timeouts (Node's 5 s), so a request
 * rarely meets a connection the receiver is closing.
 */
const IDLE_CONNECTION_MS = 4_000;

function failed(outcome: AttemptOutcome, error: string, aborted = false): TryResult {
  return { outcome, error, statusCode: null, responseBody: null, retryAfter: null, aborted };
}

/**
 * Every new connection dials through the pinned lookup, so a reused one is always to an address that passed the
 * SSRF check when it was opened; a name that turns private later is refused on the next connection. maxSockets
 * stays unlimited: one receiver's hanging requests never queue another's behind them (the worker's per-webhook
 * cap bounds the connections).
 */
export class WebhookSender {
  readonly #lookup: ReturnType<typeof pinnedLookup>;
  readonly #agents = {
    'http:': new http.Agent({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_CONNECTION_MS }),
    'https:': new https.Agent({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_CONNECTION_MS }),
  };

  constructor(allowInsecure: boolean, lookup?: HostLookup) {
    this.#lookup = pinnedLookup(allowInsecure, lookup);
  }

  /** Never rejects: every way a try can go wrong is a result. */
  send(r: SendRequest, signal: AbortSignal): Promise<TryResult> {
    const url = new URL(r.url);
    const secure = url.protocol === 'https:';
    const client = secure ? https : http;
    const agent = secure ? this.#agents['https:'] : this.#agents['http:'];
    const body = Buffer.from(r.body, 'utf8');
    const headers = { ...r.headers, 'content-length': String(body.length) };
    return new Promise<TryResult>((resolve) => {
      let settled = false;
      let timedOut = false;
      let resent = 0;
      let current: ClientRequest;
      /** Set once a response's status line is in: at the timeout, that answer (a 2xx is a success) is the result. */
      let answer: (() => void) | null = null;
      const finish = (result: TryResult) => {
        if (settled) {
          return;
        }
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      // Redirects are never followed: http.request does not, and a 3xx is a result like any other status.
      const send = () => {
        let answered = false;
        const req = client.request(url, { method: 'POST', headers, agent, lookup: this.#lookup as never }, (res) => {
          answered = true;
          const status = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          let size = 0;
          const complete = () => {
            const base = {
              statusCode: status,
              responseBody: keptText(chunks, size > MAX_RESPONSE_BYTES),
              retryAfter: res.headers['retry-after'] ?? null,
              aborted: false,
            };
            if (status >= 200 && status < 300) {
              finish({ ...base, outcome: 'success', error: null });
            } else if (status >= 300 && status < 400) {
              finish({ ...base, outcome: 'redirect', error: `redirects are not followed (HTTP ${status})` });
            } else {
              finish({ ...base, outcome: 'http_error', error: `HTTP ${status}` });
            }
          };
          answer = complete;
          res.on('data', (chunk: Buffer) => {
            if (size < MAX_RESPONSE_BYTES) {
              chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - size));
            }
            size += chunk.length;
            if (size > MAX_DRAIN_BYTES) {
              complete();
              res.destroy();
            }
          });
          res.on('error', () => undefined);
          res.on('end', complete);
        });
        current = req;
        req.on('error', (err: NodeJS.ErrnoException) => {
          if (req !== current || settled) {
            return;
          }
          if (signal.aborted) {
            return finish(failed('network_error', 'aborted by worker shutdown', true));
          }
          if (timedOut) {
            return finish(failed('timeout', `timed out after ${r.timeoutMs} ms`));
          }
          const neverDelivered = !req.writableFinished;
          if (
            req.reusedSocket &&
            neverDelivered &&
            !answered &&
            STALE_CONNECTION_CODES.has(err.code ?? '') &&
            resent < 2
          ) {
            resent += 1;
            return send();
          }
          // A private answer and no answer read the same in the delivery log, which the tenant sees: two texts
          // would let a name it controls (a CNAME) tell which internal names exist.
          // (A temporary resolver failure, EAI_AGAIN, says nothing of the name: it stays a network error.)
          if (err.code === ADDRESS_REFUSED_CODE || err.code === 'ENOTFOUND') {
            const host = (err as NodeJS.ErrnoException & { hostname?: string }).hostname ?? url.hostname;
            return finish(failed('refused', `refused: host ${host} does not resolve to a public address`));
          }
          finish(failed('network_error', err.code ? `${err.code}: ${err.message}` : err.message));
        });
        req.on('close', () => {
          if (req !== current || settled) {
            return;
          }
          if (signal.aborted) {
            finish(failed('network_error', 'aborted by worker shutdown', true));
          } else if (answer) {
            answer(); // answered, then cut off in the body: the status was given
          } else {
            finish(
              timedOut
                ? failed('timeout', `timed out after ${r.timeoutMs} ms`)
                : failed('network_error', 'connection closed before the response ended'),
            );
          }
        });
        req.end(body);
      };
      const timer = setTimeout(() => {
        timedOut = true;
        // The receiver answered in time and its body stalls: the answer counts (docs/spec/webhooks.md: success is
        // any 2xx within the timeout), with what came of its body; the connection is dropped, not kept.
        answer?.();
        current.destroy(new Error('timeout'));
      }, r.timeoutMs);
      const onAbort = () => {
        // The worker's shutdown: an answer already in counts as at the timeout, or a 2xx would be sent again later.
        answer?.();
        current.destroy(new Error('aborted'));
      };
      if (signal.aborted) {
        return finish(failed('network_error', 'aborted by worker shutdown', true));
      }
      signal.addEventListener('abort', onAbort, { once: true });
      send();
    });
  }

  /** Drops the kept-alive connections; only once nothing is being sent. */
  close(): void {
    this.#agents['http:'].destroy();
    this.#agents['https:'].destroy();
  }
}
