// A receiver's Standard Webhooks verifier on node:crypto, written apart from src/webhooks/signing.ts (the server
// only signs): tests check what the server signs against it, and against the published library (standardwebhooks).
import { createHmac, timingSafeEqual } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const DEFAULT_TOLERANCE_SECONDS = 300;

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}

/** The HMAC key: the secret's decoded bytes after the prefix, as every Standard Webhooks library has it. */
function keyOf(secret: string): Buffer {
  const bytes = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  if (bytes.length === 0) {
    throw new Error('webhook secret is empty');
  }
  return bytes;
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

  const expected = Buffer.from(
    createHmac('sha256', keyOf(secret)).update(`${msgId}.${timestampSec}.${body}`, 'utf8').digest('base64'),
    'utf8',
  );
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
