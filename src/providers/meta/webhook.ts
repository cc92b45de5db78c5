// Meta calling webhooks: signature check over the raw bytes, then translation into domain events.

import { createHash, createHmac, createSecretKey, timingSafeEqual, webcrypto } from 'node:crypto';
import { memoized } from '../../memo.ts';
import type { Direction } from '../../model/call.ts';
import type { PermissionReply } from '../../model/permission.ts';
import type { ProviderCallEvent, ProviderEnd } from '../../model/provider-event.ts';

// A KeyObject per app secret: HMAC with one is several times cheaper than with the raw string.
const hmacKey = memoized((appSecret: string) => createSecretKey(Buffer.from(appSecret, 'utf8')));
const hmacCryptoKey = memoized((appSecret: string) =>
  hmacKey(appSecret).toCryptoKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
);
/**
 * Bodies this large are hashed on libuv's thread pool (WebCrypto), not the event loop: anyone can POST Meta's 3 MB
 * unsigned, and each app secret a body may be signed with costs one HMAC over it (~1 ms a MB), which held every
 * request and every call's 20 ms audio frames for seconds. Meta's call updates are a few KB: hashed in place, where
 * a hop to the pool would cost more than the hash.
 */
const OFF_LOOP_BYTES = 64 * 1024;

/** X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256(app secret, exact raw body). */
export async function isValidMetaSignature(
  raw: Buffer,
  header: string | undefined,
  appSecret: string,
): Promise<boolean> {
  if (!header || !/^sha256=[0-9a-fA-F]{64}$/.test(header)) {
    return false;
  }
  const given = Buffer.from(header.slice(7), 'hex');
  const expected =
    raw.length < OFF_LOOP_BYTES
      ? createHmac('sha256', hmacKey(appSecret)).update(raw).digest()
      : Buffer.from(await webcrypto.subtle.sign('HMAC', hmacCryptoKey(appSecret), raw));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The subscription check's token: digests compare in constant time whatever the lengths given. */
export function isValidMetaVerifyToken(given: string, verifyToken: string): boolean {
  return timingSafeEqual(digest(given), digest(verifyToken));
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** Text as we keep it: without NULs, which PostgreSQL refuses in text and nothing Meta sends means. */
const asString = (v: unknown): string | null =>
  typeof v === 'string' ? withoutNul(v) : typeof v === 'number' ? String(v) : null;
const withoutNul = (s: string): string => (s.includes('\u0000') ? s.replaceAll('\u0000', '') : s);

interface Change {
  phoneNumberId: string;
  field: string;
  value: Json;
}

function changesOf(payload: unknown): Change[] {
  if (!isObject(payload)) {
    return [];
  }
  const out: Change[] = [];
  for (const entry of asArray(payload.entry)) {
    if (!isObject(entry)) {
      continue;
    }
    for (const change of asArray(entry.changes)) {
      if (!isObject(change) || !isObject(change.value)) {
        continue;
      }
      const metadata = change.value.metadata;
      const phoneNumberId = isObject(metadata) ? asString(metadata.phone_number_id) : null;
      if (phoneNumberId) {
        // Not String(): an object whose toString is no function ({"toString":0}) throws there, before any signature
        // is checked.
        out.push({ phoneNumberId, field: typeof change.field === 'string' ? change.field : '', value: change.value });
      }
    }
  }
  return out;
}

/** The raw `value` of each `calls` change (SDPs included), for receivers doing their own WebRTC signaling. */
export function rawCallsValuesOf(payload: unknown): { phoneNumberId: string; value: Json }[] {
  return changesOf(payload)
    .filter((c) => c.field === 'calls')
    .map(({ phoneNumberId, value }) => ({ phoneNumberId, value }));
}

/** Meta's `account_settings_update`: a WABA-level change naming the number inside `phone_number_settings`. */
export interface MetaAccountSettings {
  phoneNumberId: string;
  calling: Json;
}

export function accountSettingsOf(payload: unknown): MetaAccountSettings[] {
  if (!isObject(payload)) {
    return [];
  }
  const out: MetaAccountSettings[] = [];
  for (const entry of asArray(payload.entry)) {
    for (const change of isObject(entry) ? asArray(entry.changes) : []) {
      if (!isObject(change) || change.field !== 'account_settings_update' || !isObject(change.value)) {
        continue;
      }
      const settings = change.value.phone_number_settings;
      const phoneNumberId = isObject(settings) ? asString(settings.phone_number_id) : null;
      if (phoneNumberId && isObject(settings) && isObject(settings.calling)) {
        out.push({ phoneNumberId, calling: settings.calling });
      }
    }
  }
  return out;
}

/** Every phone_number_id the payload names, in `metadata` or in account settings. */
export function phoneNumberIdsOf(payload: unknown): string[] {
  return [
    ...new Set([
      ...changesOf(payload).map((c) => c.phoneNumberId),
      ...accountSettingsOf(payload).map((a) => a.phoneNumberId),
    ]),
  ];
}

/** Epoch seconds as string or number → ISO; null when absent or not a time. */
export function epochToIso(v: unknown): string | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 && n < 1e11 ? new Date(n * 1000).toISOString() : null;
}

/**
 * Longer than any call lasts (WhatsApp ends calls after hours): a `duration` past it is no duration. Unbounded, one
 * past PostgreSQL's INTEGER made the webhook fail on every one of Meta's retries.
 */
const MAX_CALL_SECONDS = 7 * 24 * 3600;

/** `duration`: an integer or its digits as a string; Number() would turn "" or true into a made-up 0 or 1. */
function wholeSeconds(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN;
  return Number.isInteger(n) && n >= 0 && n <= MAX_CALL_SECONDS ? n : null;
}

export interface MetaUpdate {
  phoneNumberId: string;
  /** Direction as Meta states it: user-initiated calls are our inbound ones. */
  direction: Direction | null;
  event: ProviderCallEvent;
  /** A user-initiated connect's entry point: the call button's `cta_payload`, the deeplink's `deeplink_payload`. */
  providerData?: { ctaPayload?: string; deeplinkPayload?: string; peerParentUserId?: string };
}

/** `peerNumber` is null when the user is named only by `from_user_id` (Meta's business-scoped user ids). */
export interface MetaPermissionReply extends PermissionReply {
  phoneNumberId: string;
}

export interface ParsedMetaWebhook {
  updates: MetaUpdate[];
  permissionReplies: MetaPermissionReply[];
  skipped: { phoneNumberId: string; reason: string }[];
}

function directionOf(v: unknown): MetaUpdate['direction'] {
  const d = asString(v)?.toUpperCase();
  return d === 'USER_INITIATED' ? 'INBOUND' : d === 'BUSINESS_INITIATED' ? 'OUTBOUND' : null;
}

/**
 * Without `direction`, the SDP tells: a user's call brings its offer, our call comes back with the answer (in
 * `session`, or only in the legacy `connection.webrtc.sdp`, whose JSON names its type too).
 */
function directionFromSdp(call: Json): MetaUpdate['direction'] {
  const type = (isObject(call.session) ? asString(call.session.sdp_type) : legacySdpOf(call)?.type)?.toLowerCase();
  return type === 'offer' ? 'INBOUND' : type === 'answer' ? 'OUTBOUND' : null;
}

/** A change's `contacts[]` by phone digits (`wa_id`): the business-scoped user ids Meta gave with each. */
type ContactUserIds = Map<string, { userId: string | null; parentUserId: string | null }>;

function contactUserIdsOf(contacts: unknown): ContactUserIds {
  const out: ContactUserIds = new Map();
  for (const contact of asArray(contacts)) {
    const waId = isObject(contact) ? asString(contact.wa_id)?.replace(/\D/g, '') : null;
    const userId = isObject(contact) ? asString(contact.user_id) || null : null;
    const parentUserId = isObject(contact) ? within(asString(contact.parent_user_id), MAX_USER_ID) : null;
    if (waId && (userId || parentUserId) && !out.has(waId)) {
      out.set(waId, { userId, parentUserId });
    }
  }
  return out;
}

/**
 * The user as Meta names it: phone digits (`from`) and/or the business-scoped user id (`from_user_id`, or the
 * `user_id` of the contact whose `wa_id` is `from`: matched by number, never by position, §3.3).
 */
function userOf(item: Json, contacts: ContactUserIds): { peerNumber: string | null; peerUserId: string | null } | null {
  const digits = asString(item.from)?.replace(/\D/g, '') ?? '';
  const peerNumber = digits.length > 0 && digits.length <= MAX_PHONE_DIGITS ? digits : null;
  // An over-long from_user_id names no one: the contact's user id, when it has one, is the caller's then.
  const peerUserId =
    within(asString(item.from_user_id), MAX_USER_ID) ??
    within((peerNumber ? contacts.get(peerNumber)?.userId : null) ?? null, MAX_USER_ID);
  return peerNumber || peerUserId ? { peerNumber, peerUserId } : null;
}

// Past these a value names no one (E.164 has at most 15 digits) or no reason, and would be stored and sent on in
// every webhook as given.
const MAX_PHONE_DIGITS = 15;
const MAX_USER_ID = 128;
const MAX_REASON = 200;
/**
 * `biz_opaque_callback_data` and a call button's `payload` (our `cta_payload`) are at most 512 characters where
 * they are set; a deeplink's `biz_payload` has no documented limit and gets the same. These are keys the business
 * matches on: one cut short would match nothing, or the wrong thing, so a longer one is dropped, not cut.
 */
const MAX_PAYLOAD = 512;

/** A non-empty value of at most `max` characters, else null: an identifier cut short would name someone else. */
function within(value: string | null, max: number): string | null {
  return value && value.length <= max ? value : null;
}

/** Every update in array order (docs/spec/providers-meta.md R9); a bad one is skipped, never fatal. */
export function parseMetaWebhook(payload: unknown, receivedAt: string): ParsedMetaWebhook {
  const updates: MetaUpdate[] = [];
  const permissionReplies: MetaPermissionReply[] = [];
  const skipped: ParsedMetaWebhook['skipped'] = [];
  for (const { phoneNumberId, field, value } of changesOf(payload)) {
    const contacts = contactUserIdsOf(value.contacts);
    if (field === 'messages') {
      for (const message of asArray(value.messages)) {
        const reply = isObject(message) ? parsePermissionReply(message, contacts, receivedAt) : null;
        if (reply) {
          permissionReplies.push({ phoneNumberId, ...reply });
        }
      }
      continue; // other messages are not ours
    }
    if (field !== 'calls') {
      continue;
    }
    const errorCode = firstErrorCode(value.errors);
    for (const item of asArray(value.calls)) {
      const update = isObject(item) ? parseCall(item, errorCode, contacts, receivedAt) : null;
      if (update) {
        updates.push({ phoneNumberId, ...update });
      } else {
        skipped.push({ phoneNumberId, reason: 'unusable calls[] item' });
      }
    }
    for (const item of asArray(value.statuses)) {
      if (!isObject(item) || asString(item.type)?.toLowerCase() !== 'call') {
        continue;
      }
      const event = parseStatus(item, receivedAt);
      if (event) {
        updates.push({ phoneNumberId, direction: 'OUTBOUND', event });
      } else {
        skipped.push({ phoneNumberId, reason: 'unusable statuses[] item' });
      }
    }
  }
  return { updates, permissionReplies, skipped };
}

/** §3.4 F: accept+permanent → PERMANENT; accept → TEMPORARY (expiresAt); reject → NO_PERMISSION. */
function parsePermissionReply(
  message: Json,
  contacts: ContactUserIds,
  receivedAt: string,
): Omit<MetaPermissionReply, 'phoneNumberId'> | null {
  const interactive = message.interactive;
  if (!isObject(interactive) || asString(interactive.type) !== 'call_permission_reply') {
    return null;
  }
  const reply = interactive.call_permission_reply;
  const from = userOf(message, contacts);
  const messageId = asString(message.id);
  if (!isObject(reply) || !from || !messageId) {
    return null;
  }
  const response = asString(reply.response)?.toLowerCase();
  if (response !== 'accept' && response !== 'reject') {
    return null;
  }
  const permanent = reply.is_permanent === true || reply.is_permanent === 'true';
  const status = response === 'reject' ? 'NO_PERMISSION' : permanent ? 'PERMANENT' : 'TEMPORARY';
  return {
    ...from,
    status,
    messageId,
    at: epochToIso(message.timestamp) ?? receivedAt,
    expiresAt: status === 'TEMPORARY' ? epochToIso(reply.expiration_timestamp) : null,
  };
}

function firstErrorCode(errors: unknown): string | null {
  const first = asArray(errors)[0];
  return isObject(first) ? asString(first.code) : null;
}

function sdpOf(call: Json): string | null {
  if (isObject(call.session) && typeof call.session.sdp === 'string') {
    return withoutNul(call.session.sdp);
  }
  return legacySdpOf(call)?.sdp ?? null;
}

/** Legacy BIC answers put a JSON string `{"sdp":"…","type":"answer"}` in connection.webrtc.sdp. */
function legacySdpOf(call: Json): { sdp: string | null; type: string | null } | null {
  const legacy = isObject(call.connection) && isObject(call.connection.webrtc) ? call.connection.webrtc.sdp : undefined;
  if (typeof legacy !== 'string') {
    return null;
  }
  try {
    const parsed: unknown = JSON.parse(legacy);
    if (!isObject(parsed)) {
      return null;
    }
    return { sdp: typeof parsed.sdp === 'string' ? withoutNul(parsed.sdp) : null, type: asString(parsed.type) };
  } catch {
    return null;
  }
}

/**
 * A call id as our API names calls (docs/spec/calls-api.md §4.1); a wacid is `wacid.` and base64. Any other id is no
 * call of Meta's, and stored it would break things: PostgreSQL refuses a NUL, and a long one outgrows its index.
 */
function callIdOf(v: unknown): string | null {
  const id = typeof v === 'number' ? String(v) : v;
  return typeof id === 'string' && /^[A-Za-z0-9._:@=+/-]{1,256}$/.test(id) ? id : null;
}

function parseCall(
  call: Json,
  errorCode: string | null,
  contacts: ContactUserIds,
  receivedAt: string,
): Omit<MetaUpdate, 'phoneNumberId'> | null {
  const externalCallId = callIdOf(call.id);
  const kind = asString(call.event)?.toLowerCase();
  if (!externalCallId || !kind) {
    return null;
  }
  const direction = directionOf(call.direction) ?? (kind === 'connect' ? directionFromSdp(call) : null);
  const at = epochToIso(call.timestamp) ?? receivedAt;
  if (kind === 'connect') {
    if (direction === 'INBOUND') {
      const peer = userOf(call, contacts);
      if (!peer) {
        return null;
      }
      const ctaPayload = within(asString(call.cta_payload), MAX_PAYLOAD);
      const deeplinkPayload = within(asString(call.deeplink_payload), MAX_PAYLOAD);
      // The parent business's id for the user (§3.3: store if present), from the caller's own contact.
      const peerParentUserId = peer.peerNumber ? contacts.get(peer.peerNumber)?.parentUserId : null;
      const providerData = {
        ...(ctaPayload ? { ctaPayload } : {}),
        ...(deeplinkPayload ? { deeplinkPayload } : {}),
        ...(peerParentUserId ? { peerParentUserId } : {}),
      };
      return {
        direction,
        event: {
          type: 'offer',
          externalCallId,
          ...peer,
          at,
          sdpOffer: sdpOf(call),
          bizOpaqueCallbackData: within(asString(call.biz_opaque_callback_data), MAX_PAYLOAD),
        },
        // Which call button or deeplink the user called from (§3.4 A): kept with the call, shown on it.
        ...(Object.keys(providerData).length > 0 ? { providerData } : {}),
      };
    }
    return { direction, event: { type: 'answer-sdp', externalCallId, at, sdp: sdpOf(call) } };
  }
  if (kind === 'terminate') {
    const startTime = epochToIso(call.start_time);
    const duration = wholeSeconds(call.duration);
    const failed = asString(call.status)?.toUpperCase() === 'FAILED';
    const end: ProviderEnd = {
      startTime,
      endTime: startTime ? epochToIso(call.end_time) : null,
      duration: startTime ? duration : null,
      // An answered call with errors counts as failed only when Meta says FAILED.
      errorCode: startTime && !failed ? null : errorCode,
      // Yet errors[] always means the system ended it (§3.5 "endedBy … SYSTEM if errors[] is present"), and its
      // code stays the reason even when Meta calls the call COMPLETED.
      ...(errorCode ? { endedBy: 'SYSTEM' as const, reason: errorCode } : {}),
      // terminate_reason (§3.4 E, unverified): kept as the end's reason when no error code names one.
      ...(!errorCode && asString(call.terminate_reason)
        ? { reason: asString(call.terminate_reason)?.slice(0, MAX_REASON) }
        : {}),
    };
    return { direction, event: { type: 'end', externalCallId, at, end } };
  }
  return null;
}

function parseStatus(status: Json, receivedAt: string): ProviderCallEvent | null {
  const externalCallId = callIdOf(status.id);
  const value = asString(status.status)?.toUpperCase();
  if (!externalCallId || (value !== 'RINGING' && value !== 'ACCEPTED' && value !== 'REJECTED')) {
    return null;
  }
  return { type: 'progress', externalCallId, status: value, at: epochToIso(status.timestamp) ?? receivedAt };
}
