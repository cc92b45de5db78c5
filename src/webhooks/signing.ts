// Standard Webhooks signing (https://www.standardwebhooks.com/), on node:crypto only.
// Sign and verify sit side by side so they cannot drift apart; the SDK's verifier reuses verifyWebhook.

import { createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { memoized } from '../memo.ts';

const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32; // spec asks for >= 24; 32 matches the HMAC-SHA256 block of entropy
const DEFAULT_TOLERANCE_SECONDS = 300;

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}

export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

// The HMAC key is the decoded bytes after the prefix, not the string: that is what every
// Standard Webhooks library does, so their verifiers accept our signatures unchanged.
// Kept as KeyObjects: createHmac with one is several times cheaper than with raw bytes, and the worker signs
// every delivery.
const secretKey = memoized((secret: string): KeyObject => {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length === 0) {
    throw new Error('webhook secret is empty');
  }
  return createSecretKey(bytes);
});

function sign(key: KeyObject, msgId: string, timestampSec: number, body: string): string {
  return createHmac('sha256', key).update(`${msgId}.${timestampSec}.${body}`, 'utf8').digest('base64');
}

/** The `webhook-signature` header value: one `v1,<sig>` per secret, space-separated (rotation). */
export function signPayload(secrets: string[], msgId: string, timestampSec: number, body: string): string {
  if (secrets.length === 0) {
    throw new Error('at least one webhook secret is needed to sign');
  }
  if (!Number.isSafeInteger(timestampSec)) {
    throw new Error('timestamp must be whole unix seconds');
  }
  return secrets.map((s) => `v1,${sign(secretKey(s), msgId, timestampSec, body)}`).join(' ');
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
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

/**
 * Checks a delivery the way a receiver should and returns the parsed JSON body.
 * Throws WebhookVerificationError on missing headers, a stale or future timestamp, or no matching signature.
 */
export function verifyWebhook(
  body: string,
  headers: Headers,
  secret: string,
  opts: { toleranceSeconds?: number; nowSec?: number } = {},
): unknown {
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
  // Both directions: an old timestamp is a replay, a future one would let a capture be replayed later.
  if (nowSec - timestampSec > tolerance) {
    throw new WebhookVerificationError('webhook timestamp too old');
  }
  if (timestampSec - nowSec > tolerance) {
    throw new WebhookVerificationError('webhook timestamp too new');
  }

  const expected = Buffer.from(sign(secretKey(secret), msgId, timestampSec, body), 'utf8');
  let matched = false;
  for (const candidate of signatures.split(' ')) {
    const comma = candidate.indexOf(',');
    if (comma < 0 || candidate.slice(0, comma) !== 'v1') {
      continue; // other schemes (v1a, …) are not ours
    }
    const given = Buffer.from(candidate.slice(comma + 1), 'utf8');
    // Lengths of a SHA-256 base64 digest are public; only the bytes need a constant-time compare.
    if (given.length === expected.length && timingSafeEqual(given, expected)) {
      matched = true;
    }
  }
  if (!matched) {
    throw new WebhookVerificationError('no matching webhook signature');
  }

  try {
    return JSON.parse(body);
  } catch {
    throw new WebhookVerificationError('webhook body is not JSON');
  }
}
