// Evolution Go call webhooks (docs/spec/providers-evolution-go.md §3–§4): token check, then translation into domain events.
// Evolution Go signs nothing: the envelope carries the instance token itself, so that is what we verify.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { Direction } from '../../model/call.ts';
import type { ProviderCallEvent, ProviderEnd } from '../../model/provider-event.ts';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const asString = (v: unknown): string | null => (typeof v === 'string' ? v : null);
/**
 * A reason as we keep it (the call's endReason, a number's problem): without NULs, which PostgreSQL refuses in text
 * and no reason means, and at most 200 characters: a server's reason is a word or a sentence, and a longer one would
 * be stored and sent on in every webhook as given.
 */
const reasonOf = (v: unknown): string => (asString(v)?.replaceAll('\u0000', '') ?? '').slice(0, 200);
const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Constant time whatever the lengths: both sides are hashed first (§3.1 step 3). */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

export interface EvolutionWebhookAuth {
  instanceId: string;
  instanceToken: string;
  /** Optional second check: a secret a reverse proxy adds as `X-Webhook-Secret` (§3.1 step 4). Never instead of the token. */
  headerSecret?: string | null;
}

/**
 * True when the envelope's `instanceToken` and `instanceId` are the stored ones (and, when configured,
 * the proxy header secret matches). Both comparisons always run, so timing says nothing about which failed.
 */
export function isValidEvolutionAuth(
  payload: unknown,
  expected: EvolutionWebhookAuth,
  headerValue?: string | null,
): boolean {
  if (!isObject(payload) || !expected.instanceToken || !expected.instanceId) {
    return false;
  }
  const token = asString(payload.instanceToken) ?? '';
  const id = asString(payload.instanceId) ?? '';
  const tokenOk = token !== '' && sameSecret(token, expected.instanceToken);
  const idOk = sameSecret(id, expected.instanceId);
  let headerOk = true;
  if (expected.headerSecret) {
    headerOk = typeof headerValue === 'string' && sameSecret(headerValue, expected.headerSecret);
  }
  return tokenOk && idOk && headerOk;
}

/** `instanceName` is informational: a mismatch is only logged (§3.1 step 3). */
export function evolutionInstanceNameOf(payload: unknown): string | null {
  return isObject(payload) ? asString(payload.instanceName) : null;
}

/** A copy safe to log or store: the instance token is replaced (§3.1 step 5). Non-objects come back unchanged. */
export function redactEvolutionPayload<T>(payload: T): T {
  if (!isObject(payload) || !('instanceToken' in payload)) {
    return payload;
  }
  return { ...payload, instanceToken: '[redacted]' } as T;
}

/** §3.1 step 6: sha256(instanceId, event, CallID/callId, Timestamp, Reason/reason), missing fields empty. Hex. */
export function evolutionDedupeKey(payload: unknown): string {
  const p = isObject(payload) ? payload : {};
  const d = isObject(p.data) ? p.data : {};
  const parts = [p.instanceId, p.event, d.CallID ?? d.callId, d.Timestamp, d.Reason ?? d.reason].map(
    (v) => asString(v) ?? '',
  );
  return createHash('sha256').update(parts.join('\u0000')).digest('hex');
}

// ───────────────────────────── JIDs ─────────────────────────────

export interface JidParts {
  digits: string;
  server: string;
}

/** "5521977776666.0:3@s.whatsapp.net" → { digits: "5521977776666", server: "s.whatsapp.net" } (§4). */
export function jidParts(jid: string): JidParts {
  const at = jid.indexOf('@');
  const userPart = at === -1 ? jid : jid.slice(0, at);
  const server = at === -1 ? '' : jid.slice(at + 1).toLowerCase();
  const [user = ''] = (userPart.split(':')[0] ?? '').split('.'); // drop :device and .agent suffixes
  return { digits: user.replace(/\D/g, ''), server };
}

const PHONE_SERVERS = new Set(['s.whatsapp.net', 'c.us']);
// E.164 numbers have at most 15 digits, the LIDs seen 15, with room left for longer ones. Past that a JID names no
// one to call back, and its digits would be stored and sent on in every webhook as given.
const MAX_PHONE_DIGITS = 15;
const MAX_LID_DIGITS = 32;
const isPhoneJid = (p: JidParts) =>
  PHONE_SERVERS.has(p.server) && p.digits.length > 0 && p.digits.length <= MAX_PHONE_DIGITS;
const isLidJid = (p: JidParts) => p.server === 'lid' && p.digits.length > 0 && p.digits.length <= MAX_LID_DIGITS;

/**
 * The peer of an inbound call: its phone from the first phone JID that is not us (CallCreatorAlt carries it when
 * CallCreator is a LID), and its LID when one is shown. A caller known only by its LID has no phone number: a LID's
 * 15 digits look like one but nobody can dial them, so peerNumber is null then (peerIsLid).
 */
export function inboundPeerOf(
  candidates: (string | null)[],
  ownNumber: string,
): { peerNumber: string | null; peerLid: string | null; peerIsLid: boolean } | null {
  const parts = candidates.filter((c): c is string => !!c).map(jidParts);
  const phone = parts.find((p) => isPhoneJid(p) && p.digits !== ownNumber);
  const lid = parts.find(isLidJid);
  if (!phone && !lid) {
    return null;
  }
  return { peerNumber: phone?.digits ?? null, peerLid: lid?.digits ?? null, peerIsLid: !phone };
}

/** Is this JID (or its alt) our own phone number? null when only LIDs are known (our own LID is not). */
function isOwnJid(jids: (string | null)[], ownNumber: string): boolean | null {
  const phones = jids
    .filter((j): j is string => !!j)
    .map(jidParts)
    .filter(isPhoneJid);
  if (phones.length === 0) {
    return null;
  }
  return phones.some((p) => p.digits === ownNumber);
}

// ───────────────────────────── times ─────────────────────────────

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;

/** Go's RFC 3339 (any offset, up to nanoseconds) → ISO UTC with ms; null for junk and Go's zero time. */
export function evolutionTimeToIso(v: unknown): string | null {
  if (typeof v !== 'string') {
    return null;
  }
  const m = RFC3339.exec(v.trim());
  if (!m) {
    return null;
  }
  const ms = (m[7] ?? '').padEnd(3, '0').slice(0, 3);
  const zone = (m[8] ?? '').toUpperCase();
  const t = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${ms}${zone}`);
  if (!Number.isFinite(t) || t < Date.UTC(2000, 0, 1)) {
    return null;
  }
  return new Date(t).toISOString();
}

// ───────────────────────────── parsing ─────────────────────────────

/** The spec's step-1 signal (§4), kept so the service can apply the step-2 table exactly. */
export type EvolutionSignal = 'OFFER' | 'CONNECTED' | 'ENDED';

export interface EvolutionUpdate {
  direction: Direction | null;
  /** The closest domain event the call machine understands. */
  event: ProviderCallEvent;
  /** OFFER only: `data.CallCreator` verbatim — the only value `/call/reject` and `/call/answer` accept. */
  callCreator?: string;
  signal: EvolutionSignal;
  /** Raw provider event name (`CallOffer`, `CallTerminate`, `CallEnded`, ...). */
  providerEvent: string;
  /** Raw `Reason`/`reason`; null when empty or absent. */
  reason: string | null;
  /** OFFER: the caller is known only by its LID (peerNumber null, peerLid set). */
  peerIsLid?: boolean;
  /** OFFER: the stanza carries a video child. */
  video?: boolean;
  /** CallTerminate `accepted_elsewhere`: another device of this account answered. */
  answeredElsewhere?: boolean;
  /**
   * CONNECTED/ENDED of a call to us (stock events name its creator, extension events its peer): the caller, so a call
   * whose offer never reached us is still recorded (§4, the "(none)" rows).
   */
  caller?: { peerNumber: string | null; peerLid: string | null; callCreator: string | null };
}

export interface ParsedEvolutionWebhook {
  updates: EvolutionUpdate[];
  ignored: string[];
}

/** Reasons that mean "declined" (§4 step 2 → REJECTED). */
const REJECT_REASONS = new Set(['rejected', 'rejected_elsewhere']);
/** Reasons that are not the system's doing (§4 endedBy PEER/BUSINESS); every other reason, unknown ones included, is SYSTEM. */
const PEER_OR_BUSINESS_REASONS = new Set(['', 'peer_hangup', 'hangup', 'rejected', 'rejected_elsewhere']);
/** The documented system reasons (§3, plus `server:<code>`): a failure, so an answered call ends FAILED (calls-api §2). */
const FAILURE_REASONS = new Set(['timeout', 'ring_timeout', 'rejected_busy', 'stream_closed', 'instance_stopped']);
const isFailureReason = (r: string) => FAILURE_REASONS.has(r) || r.startsWith('server:');

/** §3 lists the reasons it knows; any other one is logged and decided by the call's state alone. */
export function isDocumentedEvolutionReason(reason: string): boolean {
  return PEER_OR_BUSINESS_REASONS.has(reason) || reason === 'accepted_elsewhere' || isFailureReason(reason);
}

/**
 * §4 endedBy: BUSINESS for a hang-up or a decline on the business's own phone (`hangup`, `rejected_elsewhere`, and
 * `rejected` of a call to us); PEER for `""`, `peer_hangup` and an outbound `rejected`; SYSTEM for everything else.
 */
function endedByOf(
  reason: string,
  direction: EvolutionUpdate['direction'],
): 'PEER' | 'BUSINESS' | 'SYSTEM' | undefined {
  if (reason === 'rejected' && direction === null) {
    return undefined; // the machine knows the call's direction: the peer declined ours, or we declined theirs
  }
  if (reason === 'hangup' || reason === 'rejected_elsewhere' || (reason === 'rejected' && direction === 'INBOUND')) {
    return 'BUSINESS';
  }
  return PEER_OR_BUSINESS_REASONS.has(reason) ? 'PEER' : 'SYSTEM';
}

const IGNORED_CALL_EVENTS = new Set([
  'CallPreAccept',
  'CallTransport',
  'UnknownCallEvent',
  'CallVideoState',
  'CallMediaStalled',
  'CallMediaResumed',
]);

/**
 * One envelope → at most one update. Never throws: anything unusable lands in `ignored` with a reason.
 * `ownNumber` is our number's digits (a leading `+` is tolerated); `receivedAt` an ISO time for events without one.
 */
export function parseEvolutionWebhook(
  payload: unknown,
  ctx: { ownNumber: string; receivedAt: string },
): ParsedEvolutionWebhook {
  const ignored: string[] = [];
  try {
    const update = parseOne(
      payload,
      { ownNumber: ctx.ownNumber.replace(/\D/g, ''), receivedAt: ctx.receivedAt },
      ignored,
    );
    return { updates: update ? [update] : [], ignored };
  } catch (error) {
    // Defensive: the parser must never take the route down.
    return { updates: [], ignored: [...ignored, `parser error: ${(error as Error).message}`] };
  }
}

function parseOne(
  payload: unknown,
  ctx: { ownNumber: string; receivedAt: string },
  ignored: string[],
): EvolutionUpdate | null {
  if (!isObject(payload)) {
    return skip(ignored, 'payload is not a JSON object');
  }
  const name = asString(payload.event);
  if (!name) {
    return skip(ignored, 'envelope has no event name');
  }
  const data = payload.data;
  if (!isObject(data)) {
    return skip(ignored, `${name}: data is not an object`);
  }
  const group = asString(data.GroupJID);
  if (group) {
    return skip(ignored, `${name}: group call (out of scope)`);
  }

  switch (name) {
    case 'CallOffer':
      return parseOffer(data, ctx, ignored);
    case 'CallAccept':
      return parseStockConnected(name, data, ctx, ignored);
    case 'CallTerminate':
      return parseStockEnd(name, data, ctx, ignored);
    case 'CallReject':
      return parseStockEnd(name, data, ctx, ignored);
    case 'CallReady':
      return parseExtension(name, data, ctx, ignored);
    case 'CallEnded':
      return parseExtension(name, data, ctx, ignored);
    case 'CallOfferNotice':
      return skip(ignored, 'CallOfferNotice: group call notice (out of scope)');
    case 'CallRelayLatency':
      return skip(ignored, 'CallRelayLatency: seen only, no state change');
    default:
      return skip(ignored, IGNORED_CALL_EVENTS.has(name) ? `${name}: not used` : `${name}: not a call event we handle`);
  }
}

function skip(ignored: string[], reason: string): null {
  ignored.push(reason);
  return null;
}

function callIdOf(data: Json): string | null {
  const id = asString(data.CallID) ?? asString(data.callId);
  return id && id.length <= 256 && /^[A-Za-z0-9._:@=+/-]+$/.test(id) ? id : null;
}

function stockDirection(data: Json, ownNumber: string): EvolutionUpdate['direction'] {
  const own = isOwnJid([asString(data.CallCreator), asString(data.CallCreatorAlt)], ownNumber);
  return own === null ? null : own ? 'OUTBOUND' : 'INBOUND';
}

function hasVideo(data: Json): boolean {
  const stanza = data.Data;
  if (!isObject(stanza) || !Array.isArray(stanza.Content)) {
    return false;
  }
  return stanza.Content.some((c) => isObject(c) && c.Tag === 'video');
}

function parseOffer(
  data: Json,
  ctx: { ownNumber: string; receivedAt: string },
  ignored: string[],
): EvolutionUpdate | null {
  const externalCallId = callIdOf(data);
  if (!externalCallId) {
    return skip(ignored, 'CallOffer: missing or invalid CallID');
  }
  const callCreator = asString(data.CallCreator);
  if (!callCreator?.includes('@')) {
    return skip(ignored, 'CallOffer: missing CallCreator JID');
  }
  if (stockDirection(data, ctx.ownNumber) === 'OUTBOUND') {
    return skip(ignored, 'CallOffer: created by our own number');
  }
  const peer = inboundPeerOf([callCreator, asString(data.CallCreatorAlt), asString(data.From)], ctx.ownNumber);
  if (!peer) {
    return skip(ignored, 'CallOffer: no peer identity in CallCreator/CallCreatorAlt/From');
  }
  const at = evolutionTimeToIso(data.Timestamp) ?? ctx.receivedAt;
  return {
    direction: 'INBOUND',
    event: {
      type: 'offer',
      externalCallId,
      peerNumber: peer.peerNumber,
      peerLid: peer.peerLid,
      at,
      sdpOffer: null,
      bizOpaqueCallbackData: null,
    },
    callCreator,
    signal: 'OFFER',
    providerEvent: 'CallOffer',
    reason: null,
    peerIsLid: peer.peerIsLid,
    video: hasVideo(data),
  };
}

function connected(
  name: string,
  externalCallId: string,
  direction: EvolutionUpdate['direction'],
  at: string,
  reason: string | null,
): EvolutionUpdate {
  return {
    direction,
    event: { type: 'progress', externalCallId, at, status: 'ACCEPTED' },
    signal: 'CONNECTED',
    providerEvent: name,
    reason,
  };
}

function parseStockConnected(
  name: string,
  data: Json,
  ctx: { ownNumber: string; receivedAt: string },
  ignored: string[],
): EvolutionUpdate | null {
  const externalCallId = callIdOf(data);
  if (!externalCallId) {
    return skip(ignored, `${name}: missing or invalid CallID`);
  }
  const at = evolutionTimeToIso(data.Timestamp) ?? ctx.receivedAt;
  const direction = stockDirection(data, ctx.ownNumber);
  return withCaller(connected(name, externalCallId, direction, at, null), data, ctx.ownNumber);
}

/** An inbound update with the caller named by the stock event's CallCreator (or its alternatives). */
function withCaller(update: EvolutionUpdate, data: Json, ownNumber: string): EvolutionUpdate {
  const callCreator = asString(data.CallCreator);
  return withPeer(update, [callCreator, asString(data.CallCreatorAlt)], callCreator, ownNumber);
}

/** An inbound update with the caller among `jids`; `callCreator` is kept only when it is the offer's own JID. */
function withPeer(
  update: EvolutionUpdate,
  jids: (string | null)[],
  callCreator: string | null,
  ownNumber: string,
): EvolutionUpdate {
  const peer = inboundPeerOf(jids, ownNumber);
  // A creator shown only by its LID is a caller (§4: peerIsLid): our own LID would come with our phone as its
  // CallCreatorAlt, which makes the call ours. The update keeps its unknown direction for calls we already hold.
  const toUs = update.direction === 'INBOUND' || (update.direction === null && peer?.peerIsLid === true);
  if (!toUs) {
    return update;
  }
  // Our own phone under another spelling (Brazil's ninth digit, say) is no caller: such a call was placed from it.
  if (!peer || (peer.peerNumber !== null && sameSubscriber(peer.peerNumber, ownNumber))) {
    return update;
  }
  return { ...update, caller: { peerNumber: peer.peerNumber, peerLid: peer.peerLid, callCreator } };
}

/**
 * A mobile's digits without the extra digit some spellings carry, so two spellings of one line compare equal:
 * Brazil's ninth digit (55 AA 9XXXXXXXX), and the mobile prefixes WhatsApp ids keep where E.164 has none or is
 * often written without it: Mexico's 1 (52 1 + ten digits; E.164 dropped it in 2019) and Argentina's 9 (54 9 + ten).
 */
export function subscriberDigits(d: string): string {
  if (d.length !== 13) {
    return d;
  }
  if (d.startsWith('55') && d[4] === '9') {
    return d.slice(0, 4) + d.slice(5);
  }
  return d.startsWith('521') || d.startsWith('549') ? d.slice(0, 2) + d.slice(3) : d;
}

/** The same line, also when the spellings differ by a mobile digit (subscriberDigits). */
export function sameSubscriber(a: string, b: string): boolean {
  return a === b || subscriberDigits(a) === subscriberDigits(b);
}

function parseStockEnd(
  name: string,
  data: Json,
  ctx: { ownNumber: string; receivedAt: string },
  ignored: string[],
): EvolutionUpdate | null {
  const externalCallId = callIdOf(data);
  if (!externalCallId) {
    return skip(ignored, `${name}: missing or invalid CallID`);
  }
  const direction = stockDirection(data, ctx.ownNumber);
  const at = evolutionTimeToIso(data.Timestamp) ?? ctx.receivedAt;
  // CallReject (forwarded by extension servers only) has no Reason: it is a decline.
  const reason = name === 'CallReject' ? 'rejected' : reasonOf(data.Reason);
  if (reason === 'accepted_elsewhere') {
    const update = { ...connected(name, externalCallId, direction, at, reason), answeredElsewhere: true };
    return withCaller(update, data, ctx.ownNumber);
  }
  return withCaller(ended(name, externalCallId, direction, at, reason), data, ctx.ownNumber);
}

function parseExtension(
  name: string,
  data: Json,
  ctx: { ownNumber: string; receivedAt: string },
  ignored: string[],
): EvolutionUpdate | null {
  const externalCallId = callIdOf(data);
  if (!externalCallId) {
    return skip(ignored, `${name}: missing or invalid callId`);
  }
  const d = asString(data.direction);
  const direction = d === 'incoming' ? 'INBOUND' : d === 'outgoing' ? 'OUTBOUND' : null;
  // Extension events carry no timestamp: receipt time is the best we have (§3).
  const update =
    name === 'CallReady'
      ? connected(name, externalCallId, direction, ctx.receivedAt, null)
      : ended(name, externalCallId, direction, ctx.receivedAt, reasonOf(data.reason));
  // `peer` is the caller's bare JID, not the offer's CallCreator, which a reject must echo: no callCreator.
  return withPeer(update, [asString(data.peer)], null, ctx.ownNumber);
}

/**
 * An end, in the machine's words (§4; docs/spec/calls-api.md §4.6 wins where they differ):
 * - always an `end`, declines too, so an in-flight reject/terminate of ours owns it (REJECTED/COMPLETED, endedBy
 *   BUSINESS), an answered call ends COMPLETED whatever the reason, and an end that beats its offer becomes a
 *   tombstone instead of leaving a call RINGING; a decline (`rejected`, `rejected_elsewhere`) is marked `declined`,
 *   so a ringing call ends REJECTED, not MISSED (by the PEER on an outbound call);
 * - the raw reason is the call's endReason and names who ended it (`endedByOf`); the documented system reasons
 *   (timeout, ring_timeout, rejected_busy, stream_closed, instance_stopped, server:*) also travel as `errorCode`, which
 *   makes an answered call FAILED; an unknown reason does not (§3: decided by state, so an answered call COMPLETES).
 */
function ended(
  name: string,
  externalCallId: string,
  direction: EvolutionUpdate['direction'],
  at: string,
  rawReason: string,
): EvolutionUpdate {
  const reason = rawReason === '' ? null : rawReason;
  const endedBy = endedByOf(rawReason, direction);
  const end: ProviderEnd = {
    startTime: null, // Evolution never reports an authoritative answer time; the call's own connectedAt is used
    endTime: at,
    duration: null, // CallEnded.durationSeconds includes ring time: never talk time (§3)
    errorCode: isFailureReason(rawReason) ? rawReason : null,
    reason,
    ...(endedBy ? { endedBy } : {}),
    ...(REJECT_REASONS.has(rawReason) ? { declined: true } : {}),
  };
  return { direction, event: { type: 'end', externalCallId, at, end }, signal: 'ENDED', providerEvent: name, reason };
}

// ───────────────────────────── connection events ─────────────────────────────

/**
 * What a CONNECTION event says of the instance (`subscribe: ["CONNECTION"]` brings exactly these six, Go names):
 * `Connected` and `PairSuccess` (data carries `jid`, the paired phone) mean it is paired and online; `Disconnected`,
 * `ConnectFailure` and `TemporaryBan` that the socket is down while still paired; `LoggedOut` that the phone
 * removed the device, so it is paired no more (a new QR is needed).
 */
export interface EvolutionConnectionUpdate {
  event: 'Connected' | 'PairSuccess' | 'Disconnected' | 'ConnectFailure' | 'TemporaryBan' | 'LoggedOut';
  connected: boolean;
  /** false: the device is no longer linked (LoggedOut); null: unchanged, as far as the event says. */
  loggedIn: boolean | null;
  /** The paired phone's digits (Connected/PairSuccess `jid`, or PairSuccess `ID`), when given. */
  phone: string | null;
  /** LoggedOut/ConnectFailure/TemporaryBan: the server's reason text, when given. */
  reason: string | null;
}

const CONNECTION_EVENTS = new Set<string>([
  'Connected',
  'PairSuccess',
  'Disconnected',
  'ConnectFailure',
  'TemporaryBan',
  'LoggedOut',
]);

/** A CONNECTION event's meaning, or null when the envelope is no such event. Never throws. */
export function parseEvolutionConnection(payload: unknown): EvolutionConnectionUpdate | null {
  if (!isObject(payload)) {
    return null;
  }
  const event = asString(payload.event);
  if (!event || !CONNECTION_EVENTS.has(event)) {
    return null;
  }
  const data = isObject(payload.data) ? payload.data : {};
  const online = event === 'Connected' || event === 'PairSuccess';
  const jid = asString(data.jid) ?? asString(data.ID) ?? '';
  const phoneOf = jidParts(jid);
  const reason = asString(data.reason) ?? asString(data.Reason);
  return {
    event: event as EvolutionConnectionUpdate['event'],
    connected: online,
    loggedIn: online ? true : event === 'LoggedOut' ? false : null,
    phone: online && isPhoneJid(phoneOf) ? phoneOf.digits : null,
    reason: reason === null || reason === '' ? null : reasonOf(reason),
  };
}
