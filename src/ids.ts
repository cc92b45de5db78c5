import { randomFillSync, randomInt } from 'node:crypto';
import type { CallId, EventId, KeyId, NumberId, TenantId, WebhookId } from './model/ids.ts';

// The id types are defined in the model (the bottom module); this file mints them.
export type { CallId, EventId, KeyId, NumberId, TenantId, WebhookId } from './model/ids.ts';

// ULIDs: time-ordered (lists sort by id) and unguessable enough for object ids.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function ulid(nowMs: number = Date.now()): string {
  let time = '';
  for (let ms = nowMs, i = 0; i < 10; i++, ms = Math.floor(ms / 32)) {
    time = CROCKFORD[ms % 32] + time;
  }
  const rand = randomPool(16);
  let tail = '';
  for (let i = 0; i < 16; i++) {
    tail += CROCKFORD[(pool[rand + i] as number) % 32];
  }
  return time + tail;
}

// One CSPRNG call per 256 ids instead of one per id (same generator, same randomness).
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
function randomPool(n: number): number {
  if (poolOffset + n > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += n;
  return at;
}

function base62(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out += BASE62[randomInt(62)];
  }
  return out;
}

export const newTenantId = () => `tenant_${ulid()}` as TenantId;
export const newNumberId = () => `num_${ulid()}` as NumberId;
export const newCallId = () => `call_${ulid()}` as CallId;
export const newEventId = () => `evt_${ulid()}` as EventId;
export const newWebhookId = () => `whk_${ulid()}` as WebhookId;
/** One row of a webhook's delivery log (one HTTP try). */
export const newAttemptId = () => `att_${ulid()}`;
export const newRequestId = () => `req_${ulid()}`;
/** The key id is also a credential (x-api-key-id), so it carries as much randomness as the secret. */
export const newKeyId = () => `key_${base62(32)}` as KeyId;
export const newKeySecret = () => `ps_${base62(40)}`;
export const newActionId = () => `act_${ulid()}`;
