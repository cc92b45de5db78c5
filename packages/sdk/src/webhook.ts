// verifyWebhook: the receiving half of the server's Standard Webhooks signing (src/webhooks/signing.ts), on
// WebCrypto so it runs in browsers, workers and edge runtimes as well as Node. The server's module is built on
// node:crypto, so it cannot be shipped here; this file follows it rule for rule (same header handling, the same
// five-minute tolerance both ways, v1 signatures only, the HMAC keyed with the decoded secret bytes), and
// test/webhook.test.ts checks it against the server's signer and the npm `standardwebhooks` library both ways.
import type { WebhookEvent } from './types.ts';

const SECRET_PREFIX = 'whsec_';
const DEFAULT_TOLERANCE_SECONDS = 300;

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}

/** What verifyWebhook reads of a fetch `Headers`: any class with `get` (a polyfill's, another realm's) will do. */
export interface HeadersLike {
  get(name: string): string | null;
}
/** A fetch `Headers`, or a plain object such as Node's `req.headers` (names in any case, values may repeat). */
export type WebhookHeaders = Headers | HeadersLike | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** Accepted clock skew in either direction (default 300 s). */
  toleranceSeconds?: number;
  /** "Now" in unix seconds (tests). */
  nowSec?: number;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  // Not `instanceof Headers`: a polyfill's Headers, or one from another realm (a test runner's VM context), is not
  // the global class and would read as a plain object with no headers. A header value is never a function.
  if (typeof (headers as Partial<HeadersLike>).get === 'function') {
    return (headers as HeadersLike).get(name) ?? undefined;
  }
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() !== name || value === undefined) {
      continue;
    }
    if (typeof value === 'string') {
      return value;
    }
    // A repeated signature header is just more candidates; a repeated id or timestamp is ambiguous.
    if (name === 'webhook-signature') {
      return value.join(' ');
    }
    if (value.length !== 1) {
      throw new WebhookVerificationError(`repeated ${name} header`);
    }
    return value[0];
  }
  return undefined;
}

function base64ToBytes(text: string): Uint8Array<ArrayBuffer> {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new WebhookVerificationError('a signature or the secret is not valid base64');
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}

function secretBytes(secret: string): Uint8Array<ArrayBuffer> {
  const bytes = base64ToBytes(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
  if (bytes.length === 0) {
    throw new WebhookVerificationError('webhook secret is empty');
  }
  return bytes;
}

function payloadText(payload: string | Uint8Array | ArrayBuffer): string {
  return typeof payload === 'string' ? payload : new TextDecoder('utf-8', { fatal: false }).decode(payload);
}

/**
 * A body parser's object (Express's `req.body` after `express.json()`, typed `any`) cannot be verified: the signature
 * is over the bytes as sent. Said plainly, before anything else, rather than as TextDecoder's argument error.
 */
function checkPayload(payload: unknown): void {
  // ArrayBuffer by its tag, not instanceof: one from another realm is still bytes.
  const bytes = ArrayBuffer.isView(payload) || Object.prototype.toString.call(payload) === '[object ArrayBuffer]';
  if (typeof payload !== 'string' && !bytes) {
    throw new TypeError(
      `verifyWebhook needs the raw body as received (a string or bytes), not ${payload === null ? 'null' : typeof payload}: ` +
        "a parsed JSON body cannot be verified (with Express, read it with express.raw({ type: 'application/json' }))",
    );
  }
}

/**
 * Checks a webhook delivery and returns its parsed payload. `payload` must be the raw body exactly as received
 * (a string or its bytes; not a re-serialised object). Rejects with WebhookVerificationError on missing headers,
 * a timestamp outside the tolerance (old: a replay; new: a capture kept for later), or no matching v1 signature.
 */
export async function verifyWebhook(
  payload: string | Uint8Array | ArrayBuffer,
  headers: WebhookHeaders,
  secret: string,
  opts: VerifyOptions = {},
): Promise<WebhookEvent> {
  checkPayload(payload);
  const msgId = header(headers, 'webhook-id');
  const timestampRaw = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!msgId || !timestampRaw || !signatures) {
    throw new WebhookVerificationError('missing webhook headers');
  }

  if (!/^\d{1,15}$/.test(timestampRaw)) {
    throw new WebhookVerificationError('invalid webhook-timestamp');
  }
  const timestampSec = Number(timestampRaw);
  const nowSec = opts.nowSec ?? Math.floor(Date.now() / 1000);
  const tolerance = opts.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (nowSec - timestampSec > tolerance) {
    throw new WebhookVerificationError('webhook timestamp too old');
  }
  if (timestampSec - nowSec > tolerance) {
    throw new WebhookVerificationError('webhook timestamp too new');
  }

  const body = payloadText(payload);
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new Error(
      'verifyWebhook needs WebCrypto (globalThis.crypto.subtle): a secure context in browsers, Node >= 20',
    );
  }
  const key = await subtle.importKey('raw', secretBytes(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const signed = new TextEncoder().encode(`${msgId}.${timestampSec}.${body}`);

  let matched = false;
  for (const candidate of signatures.split(' ')) {
    const comma = candidate.indexOf(',');
    if (comma < 0 || candidate.slice(0, comma) !== 'v1') {
      continue; // other schemes (v1a, ...) are not ours
    }
    let given: Uint8Array<ArrayBuffer>;
    try {
      given = base64ToBytes(candidate.slice(comma + 1));
    } catch {
      continue;
    }
    // subtle.verify compares in constant time.
    if (given.length === 32 && (await subtle.verify('HMAC', key, given, signed))) {
      matched = true;
    }
  }
  if (!matched) {
    throw new WebhookVerificationError('no matching webhook signature');
  }

  try {
    return JSON.parse(body) as WebhookEvent;
  } catch {
    throw new WebhookVerificationError('webhook body is not JSON');
  }
}
