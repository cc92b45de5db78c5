// Standard Webhooks signing (https://www.standardwebhooks.com/), on node:crypto only. The server only signs;
// receivers verify with the SDK's verifyWebhook (packages/sdk, WebCrypto) or any Standard Webhooks library, and
// the tests check our signatures against the published one.

import { createHmac, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { memoized } from '../memo.ts';

const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32; // spec asks for >= 24; 32 matches the HMAC-SHA256 block of entropy

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
