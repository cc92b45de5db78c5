/**
 * Fake of Meta's WhatsApp Cloud API calling surface (docs: docs/spec/providers-meta.md §5).
 *
 * A real HTTP server on 127.0.0.1:<ephemeral> that speaks the Graph wire format of §1/§2, keeps per-call
 * state (§5.3), and POSTs signed calling webhooks (§3, §5.4) to a configurable URL. Tests drive the user's side
 * through the control API (incomingCall, userAnswers, userHangsUp, ...) and inspect `requests`, `violations`
 * and `webhookAttempts`.
 *
 * Ordering guarantee the tests rely on: a webhook caused by an API request (e.g. the terminate webhook after
 * `reject`) is only sent once the HTTP response has been written, unless `setEmitDefaults({beforeResponse})`
 * asks for the reverse (the R7 race).
 */

import { createHash, createHmac } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Json } from '../helpers/json.ts';

// ───────────────────────────── public types ─────────────────────────────

export interface FakeMetaNumber {
  phoneNumberId: string;
  displayPhoneNumber: string;
  wabaId: string;
  accessToken: string;
  appSecret: string;
  callingEnabled?: boolean;
  sip?: boolean;
}

export interface FakeMetaOptions {
  numbers: FakeMetaNumber[];
  /** Where webhooks are POSTed; may be set later with setWebhookUrl. */
  webhookUrl?: string;
  /** Seed for ids and seeded latency; default 'seed'. */
  seed?: string;
  /** ms epoch clock, default Date.now. `advance(ms)` adds an offset on top of it. */
  now?: () => number;
  /** Delay before each delivery attempt; default [0, 1000, 5000, 30000] (4 attempts). */
  webhookRetryScheduleMs?: number[];
  /** Per-attempt timeout of a webhook POST; default 20000. */
  webhookTimeoutMs?: number;
  /** UIC answer window; default 45000. */
  uicRingTimeoutMs?: number;
  /** BIC ring timeout; default 60000. */
  bicRingTimeoutMs?: number;
  /** Reply `{"success":true}` instead of `{"messaging_product":"whatsapp","success":true}`. */
  shortSuccess?: boolean;
  /** terminate on a ringing UIC → 200 + ENDED instead of 400/100 (the violation is still recorded). */
  lenientTerminate?: boolean;
  /** terminate/reject on an ENDED/unknown call: 'error' (400/100, default) or 'success' (200, no webhook). */
  alreadyEnded?: 'error' | 'success';
  /** BIC connect needs a permission; default true. */
  requirePermission?: boolean;
  // Limits (§6), overridable so tests can reach them cheaply.
  maxConcurrentCalls?: number; // default 1000 → 429 138002
  maxInitiationsPerDay?: number; // default 10000 → 429 138005
  maxConnectedPerPairPerDay?: number; // default 100 → 400 138012
  permissionRequestsPerDay?: number; // default 1 → 400 138009
  permissionRequestsPerWeek?: number; // default 2 → 400 138009
  permissionGetRatePerSec?: number; // default 100 → 429 613
  unansweredBeforeRevoke?: number; // default 4 consecutive unanswered BICs
  /** Options applied to every emitted webhook (overridden per call). */
  emitDefaults?: EmitOptions;
}

export interface RecordedRequest {
  method: string;
  /** Request target as sent, query string included. */
  path: string;
  version: string;
  phoneNumberId: string;
  edge: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
  body: Json;
  /** 0 while unanswered, and for hung / reset requests. */
  status: number;
  response: Json;
  at: number;
}

export interface InjectRule {
  action?: string;
  /** Matches the edge (`calls`, `settings`, ...) exactly or any substring of the request target. */
  path?: string;
  times?: number;
  latencyMs?: number | [number, number];
  hang?: boolean;
  reset?: boolean;
  status?: number;
  error?: { code: number; message?: string; type?: string; error_data?: { details?: string } };
  html?: boolean;
  successFalse?: boolean;
}

export interface EmitOptions {
  /** Send the same bytes n more times. */
  duplicate?: number;
  delayMs?: number;
  /** Shift every event `timestamp` this many seconds into the past. */
  stale?: number;
  badSignature?: boolean;
  noSignature?: boolean;
  /** `COMPLETED` → `Completed` etc. in calls[].status / statuses[].status. */
  lowercaseStatus?: boolean;
  /** The first n attempts are "lost" (logged with status null) and retried on the schedule. */
  dropFirstAttempts?: number;
  /** Keep the webhook until releaseHeld() (reordering). */
  hold?: boolean;
  omitContacts?: boolean;
  /** Add BSUIDs (contacts[].user_id, calls[].from_user_id). */
  withBsuid?: boolean;
  /** Add an unknown key at every level. */
  unknownFields?: boolean;
  /**
   * Only for webhooks caused by an API request: send them before writing the HTTP response. `true` waits for
   * the delivery up to 1000 ms, a number sets that cap (the cap avoids deadlocking an app that serialises).
   */
  beforeResponse?: boolean | number;
}

export interface WebhookAttempt {
  body: string;
  status: number | null;
  error?: string;
  latencyMs: number;
  at: number;
}

export type BatchMode = 'array' | 'changes' | 'entries';

export interface FakeMeta {
  baseUrl: string;
  requests: RecordedRequest[];
  violations: string[];
  webhookAttempts: WebhookAttempt[];
  setWebhookUrl(url: string): void;
  countRequests(filter?: { action?: string; call_id?: string; edge?: string }): number;
  inject(rule: InjectRule): void;
  clearInjections(): void;
  callState(wacid: string): string | undefined;
  incomingCall(
    p: {
      phoneNumberId?: string;
      from: string;
      name?: string;
      sdp?: string;
      ctaPayload?: string;
      deeplinkPayload?: string;
      timestamp?: number;
      omitDirection?: boolean;
    },
    o?: EmitOptions,
  ): Promise<string>;
  userAnswers(wacid: string, o?: EmitOptions): Promise<void>;
  userDeclines(wacid: string, o?: EmitOptions): Promise<void>;
  userHangsUp(wacid: string, o?: EmitOptions): Promise<void>;
  mediaFailure(wacid: string, code: number, o?: EmitOptions): Promise<void>;
  grantPermission(phoneNumberId: string, waId: string, kind: 'temporary' | 'permanent'): void;
  /**
   * The user's device answers the business's offers: the connect webhook of a business-initiated call carries
   * `answer(offerSdp)` instead of the canned answer (a real WebRTC peer, so server media is tested on META). null:
   * the canned answer again.
   */
  answerOffersWith(answer: ((offerSdp: string) => Promise<string>) | null): void;
  revokePermission(phoneNumberId: string, waId: string): void;
  userRepliesToPermission(
    phoneNumberId: string,
    waId: string,
    response: 'accept' | 'reject',
    o?: { permanent?: boolean },
  ): Promise<void>;
  setMessagingLimit(phoneNumberId: string, limit: number): void;
  /** A number Meta knows from now on, with its token (as if another business had set one up). */
  addNumber(n: FakeMetaNumber): void;
  /** The number's token is replaced: the old one is refused from now on (190), as after a revocation. */
  setAccessToken(phoneNumberId: string, accessToken: string): void;
  buildWebhook(
    phoneNumberId: string,
    value: { calls?: Json[]; statuses?: Json[]; contacts?: Json[]; errors?: Json[]; messages?: Json[] },
    field?: 'calls' | 'messages',
  ): Json;
  sendWebhook(payload: Json, o?: EmitOptions & { secretOf?: string }): Promise<void>;
  /** Name a user by a business-scoped user id in webhooks (and with phoneHidden, by nothing else). */
  setUserIdentity(waId: string, identity: { userId: string; phoneHidden?: boolean }): void;
  /** Meta's account_settings_update for the number (sent by itself after a settings change too). */
  accountSettingsUpdate(phoneNumberId: string, o?: EmitOptions & { about?: string }): Promise<void>;
  /** Send held webhooks in hold order (or reversed), one POST each or merged into one batch POST. */
  releaseHeld(o?: { reverse?: boolean; batch?: BatchMode }): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
  // Extras beyond the agreed surface.
  /** The fake's clock (ms). */
  now(): number;
  /** Move the clock forward; ring windows that lapse are ended (as if their timers fired). */
  advance(ms: number): void;
  setEmitDefaults(o: EmitOptions): void;
  /** Number of webhooks held with hold:true. */
  heldCount(): number;
}

// ───────────────────────────── constants ─────────────────────────────

function sdp(lines: string[]): string {
  return `${lines.join('\r\n')}\r\n`;
}

const SDP_BODY = [
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=ice-lite',
  'm=audio 3480 UDP/TLS/RTP/SAVPF 111 126',
  'c=IN IP4 203.0.113.10',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:1 1 udp 2122260223 203.0.113.10 3480 typ host generation 0',
  'a=ice-ufrag:Fk3xQ',
  'a=ice-pwd:q8V2cJf0a1xLrN7sT4uW9yZb',
  'a=fingerprint:sha-256 5B:2E:61:0C:9A:4F:D7:13:88:EA:41:C6:B0:73:2D:95:1F:60:AE:37:C2:84:19:DB:6E:05:F9:72:3A:C1:8D:44',
];
const SDP_TAIL = [
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:126 telephone-event/8000',
];

/** §5.7: what Meta offers on a user-initiated call. */
export const CANNED_OFFER_SDP: string = sdp([
  'v=0',
  'o=- 1767866400 2 IN IP4 127.0.0.1',
  ...SDP_BODY,
  'a=setup:actpass',
  ...SDP_TAIL,
]);
/** §5.7: what Meta answers on a business-initiated call (differs in o= and a=setup). */
export const CANNED_ANSWER_SDP: string = sdp([
  'v=0',
  'o=- 1767870002 2 IN IP4 127.0.0.1',
  ...SDP_BODY,
  'a=setup:active',
  ...SDP_TAIL,
]);

const DEFAULT_RETRY_SCHEDULE_MS = [0, 1000, 5000, 30000];
const DAY_MS = 24 * 3600 * 1000;
const WEEK_MS = 7 * DAY_MS;
const TEMPORARY_PERMISSION_MS = 7 * DAY_MS;
const REPLAY_WINDOW_MS = 5000;
const BEFORE_RESPONSE_DEFAULT_WAIT_MS = 1000;
const ERROR_DOCS_URL = 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/';
const CALL_ACTIONS = ['connect', 'pre_accept', 'accept', 'reject', 'terminate'] as const;
type CallAction = (typeof CALL_ACTIONS)[number];
const DAYS = ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY'];
const HHMM = /^([01]\d|2[0-3])[0-5]\d$/;

/** HTTP status Meta uses for a Graph error code (§2.2); everything unlisted is a 400. */
const STATUS_BY_CODE: Record<number, number> = {
  1: 500,
  2: 503,
  4: 429,
  10: 403,
  190: 401,
  368: 403,
  613: 429,
  80007: 429,
  130429: 429,
  131000: 500,
  131016: 503,
  138000: 401,
  138002: 429,
  138004: 500,
  138005: 429,
  138006: 401,
  138007: 500,
};

const TITLE_BY_CODE: Record<number, string> = {
  1: 'An unknown error occurred',
  2: 'Service temporarily unavailable',
  4: 'Application request limit reached',
  100: 'Invalid parameter',
  190: 'Invalid OAuth access token',
  613: 'Calls to this api have exceeded the rate limit.',
  131009: 'Parameter value is not valid',
  131026: 'Message undeliverable',
  131030: 'Recipient phone number not in allowed list',
  131044: 'Payment issue',
  131055: 'Method not allowed: calling is handled over SIP for this number',
  138000: 'Calling not enabled',
  138001: 'Receiver is unable to receive calls',
  138002: 'Concurrent calls limit reached',
  138003: 'Duplicate call',
  138004: 'Error while connecting the call',
  138005: 'Calls limit reached',
  138006: 'No approved call permission found',
  138007: 'Call connect timeout',
  138009: 'Call permission request limit reached',
  138012: 'Business initiated calls limit reached',
  138013: 'Business initiated calling is not available',
  138014: 'Calling temporarily disabled',
  138015: 'Calling cannot be enabled',
  138017: 'Call permission request not allowed',
  138018: 'Calling cannot be enabled',
};

const MEDIA_FAILURES: Record<number, [string, string]> = {
  138019: ['Call setup failed', 'ICE connectivity checks failed'],
  138020: ['Relay connection failed', 'Could not connect to the media relay'],
  138021: ['Media receive timeout', 'No media received from the business'],
  138022: ['Media transmit timeout', 'Media could not be sent to the business'],
  138023: ['Call accepted but no media', 'The call was accepted but no media flowed'],
};

export function statusForGraphCode(code: number): number {
  const known = STATUS_BY_CODE[code];
  if (known !== undefined) {
    return known;
  }
  return code >= 200 && code <= 299 ? 403 : 400;
}

// ───────────────────────────── pure helpers ─────────────────────────────

/** `sha256=<hex HMAC-SHA256(appSecret, exact bytes)>`, the X-Hub-Signature-256 value (§3.2). */
export function signMetaBody(raw: string | Buffer, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(raw).digest('hex')}`;
}

/**
 * Meta writes every char > U+007E as `\uXXXX` with lowercase hex (astral chars as their surrogate pair), so the
 * signature covers ASCII bytes only. Input is JSON text; escaping inside strings keeps it the same JSON value.
 */
export function escapeNonAscii(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Epoch seconds as a string, the type Meta uses for timestamps in webhooks. */
function epochSec(ms: number): string {
  return String(Math.floor(ms / 1000));
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function digitsOnly(s: string): string {
  return s.replace(/^\+/, '');
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** Small seeded PRNG (mulberry32) so `latencyMs: [min,max]` is reproducible. */
function seededRandom(seed: string): () => number {
  let a = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Wait for `p`, but no longer than `ms` (the timer is cleared either way). */
async function waitAtMost(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([p, cap]);
  clearTimeout(timer);
}

/** Header values must be latin1 without control chars; Graph messages may not be. */
function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

/** Entries that fall inside the window ending now, pruning older ones in place. */
function inWindow(times: number[], now: number, windowMs: number): number[] {
  while (times.length > 0 && times[0]! <= now - windowMs) {
    times.shift();
  }
  return times;
}

// ───────────────────────────── webhook payload helpers ─────────────────────────────

type EventList = 'calls' | 'statuses' | 'messages';
const EVENT_LISTS: EventList[] = ['calls', 'statuses', 'messages'];

/** Every change value of an envelope (tolerates malformed payloads built by tests). */
function changeValues(payload: Json): Json[] {
  const out: Json[] = [];
  for (const e of Array.isArray(payload?.entry) ? payload.entry : []) {
    for (const ch of Array.isArray(e?.changes) ? e.changes : []) {
      if (isObject(ch?.value)) {
        out.push(ch.value);
      }
    }
  }
  return out;
}

function eachEvent(payload: Json, f: (ev: Json, list: EventList) => void): void {
  for (const v of changeValues(payload)) {
    for (const list of EVENT_LISTS) {
      for (const ev of Array.isArray(v[list]) ? v[list] : []) {
        if (isObject(ev)) {
          f(ev, list);
        }
      }
    }
  }
}

function bsuid(waId: string): string {
  return `ZZ.${BigInt(`0x${createHash('sha256').update(waId).digest('hex').slice(0, 15)}`).toString()}`;
}

/** Apply the payload-changing knobs (stale, lowercaseStatus, omitContacts, withBsuid, unknownFields). */
function transformPayload(payload: Json, o: EmitOptions): Json {
  const p = clone(payload);
  eachEvent(p, (ev, list) => {
    if (o.stale && ev.timestamp !== undefined) {
      const shifted = Number(ev.timestamp) - o.stale;
      ev.timestamp = typeof ev.timestamp === 'number' ? shifted : String(shifted);
    }
    if (o.lowercaseStatus && list !== 'messages' && typeof ev.status === 'string') {
      ev.status = ev.status.charAt(0).toUpperCase() + ev.status.slice(1).toLowerCase();
    }
    if (o.withBsuid && list === 'calls' && typeof ev.from === 'string') {
      ev.from_user_id = bsuid(ev.from);
    }
    if (o.unknownFields) {
      ev.x_fake_unknown_field = 'ignore-me';
    }
  });
  for (const v of changeValues(p)) {
    if (o.omitContacts) {
      delete v.contacts;
    }
    if (o.withBsuid) {
      for (const c of Array.isArray(v.contacts) ? v.contacts : []) {
        if (c?.wa_id) {
          c.user_id = bsuid(c.wa_id);
        }
      }
    }
    if (o.unknownFields) {
      v.x_fake_unknown_field = { nested: true };
      if (isObject(v.metadata)) {
        v.metadata.x_fake_unknown_field = 1;
      }
    }
  }
  if (o.unknownFields && isObject(p)) {
    p.x_fake_unknown_field = 'ignore-me';
    for (const e of Array.isArray(p.entry) ? p.entry : []) {
      e.x_fake_unknown_field = 'ignore-me';
      for (const ch of Array.isArray(e.changes) ? e.changes : []) {
        ch.x_fake_unknown_field = 'ignore-me';
      }
    }
  }
  return p;
}

/**
 * Merge several envelopes into one POST (§4 R9 batches). 'entries': one entry per payload; 'changes': one entry per
 * WABA, one change per payload; 'array': events of the same number+field share one change's arrays — except values
 * carrying `errors[]`, which are value-level and would otherwise be attributed to unrelated calls.
 */
function mergeWebhooks(payloads: Json[], mode: BatchMode): Json {
  if (mode === 'entries') {
    return { object: 'whatsapp_business_account', entry: payloads.flatMap((p) => clone(p.entry ?? [])) };
  }
  const entries = new Map<string, { id: string; changes: Json[] }>();
  for (const p of payloads) {
    for (const e of p.entry ?? []) {
      const target = entries.get(e.id) ?? { id: e.id, changes: [] as Json[] };
      entries.set(e.id, target);
      for (const ch of e.changes ?? []) {
        const same =
          mode === 'array' && !ch.value?.errors
            ? target.changes.find(
                (c) =>
                  c.field === ch.field &&
                  !c.value.errors &&
                  c.value.metadata?.phone_number_id === ch.value?.metadata?.phone_number_id,
              )
            : undefined;
        if (same) {
          mergeValue(same.value, ch.value);
        } else {
          target.changes.push(clone(ch));
        }
      }
    }
  }
  return { object: 'whatsapp_business_account', entry: [...entries.values()] };
}

function mergeValue(into: Json, from: Json): void {
  for (const key of ['contacts', 'calls', 'statuses', 'messages'] as const) {
    if (!Array.isArray(from[key])) {
      continue;
    }
    into[key] ??= [];
    const list: Json[] = into[key];
    for (const item of from[key]) {
      if (key === 'contacts' && list.some((c) => c.wa_id === item.wa_id)) {
        continue;
      }
      list.push(clone(item));
    }
  }
}

// ───────────────────────────── settings validation (§1.4) ─────────────────────────────

function checkEnum(v: unknown, allowed: string[], name: string): string | undefined {
  if (v === undefined || (typeof v === 'string' && allowed.includes(v))) {
    return undefined;
  }
  return `${name} must be one of ${allowed.join('|')}`;
}

function validateCallHours(h: unknown): string | undefined {
  if (!isObject(h)) {
    return 'calling.call_hours must be an object';
  }
  const err = checkEnum(h.status, ['ENABLED', 'DISABLED'], 'calling.call_hours.status');
  if (err) {
    return err;
  }
  if (typeof h.timezone_id !== 'string' || !isTimeZone(h.timezone_id)) {
    return 'calling.call_hours.timezone_id must be an IANA time zone';
  }
  const weekly = h.weekly_operating_hours;
  if (!Array.isArray(weekly) || weekly.length === 0) {
    return 'calling.call_hours.weekly_operating_hours must be a non-empty array';
  }
  const byDay = new Map<string, Array<[string, string]>>();
  for (const r of weekly) {
    if (!isObject(r) || !DAYS.includes(r.day_of_week)) {
      return `weekly_operating_hours: day_of_week must be one of ${DAYS.join('|')}`;
    }
    if (!HHMM.test(String(r.open_time)) || !HHMM.test(String(r.close_time))) {
      return 'weekly_operating_hours: open_time/close_time must be HHMM';
    }
    if (r.open_time >= r.close_time) {
      return `weekly_operating_hours: open_time must be before close_time (${r.day_of_week})`;
    }
    const ranges = byDay.get(r.day_of_week) ?? [];
    ranges.push([r.open_time, r.close_time]);
    byDay.set(r.day_of_week, ranges);
  }
  for (const [day, ranges] of byDay) {
    if (ranges.length > 2) {
      return `weekly_operating_hours: at most 2 ranges per day (${day})`;
    }
    ranges.sort((a, b) => a[0].localeCompare(b[0]));
    for (let i = 1; i < ranges.length; i++) {
      if (ranges[i]![0] < ranges[i - 1]![1]) {
        return `weekly_operating_hours: overlapping ranges on ${day}`;
      }
    }
  }
  const holidays = h.holiday_schedule;
  if (holidays !== undefined) {
    if (!Array.isArray(holidays)) {
      return 'calling.call_hours.holiday_schedule must be an array';
    }
    if (holidays.length > 20) {
      return 'holiday_schedule: at most 20 entries';
    }
    for (const d of holidays) {
      if (!isObject(d) || !/^\d{4}-\d{2}-\d{2}$/.test(String(d.date))) {
        return 'holiday_schedule: date must be YYYY-MM-DD';
      }
      if (!HHMM.test(String(d.start_time)) || !HHMM.test(String(d.end_time))) {
        return 'holiday_schedule: start_time/end_time must be HHMM';
      }
      if (d.start_time >= d.end_time) {
        return `holiday_schedule: start_time must be before end_time (${d.date})`;
      }
    }
  }
  return undefined;
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const CALLING_KEYS = [
  'status',
  'call_icon_visibility',
  'callback_permission_status',
  'call_icons',
  'call_hours',
  'sip',
  'audio',
];

function validateCallingSettings(c: unknown): string | undefined {
  if (!isObject(c)) {
    return 'calling must be an object';
  }
  for (const k of Object.keys(c)) {
    if (!CALLING_KEYS.includes(k)) {
      return `Unknown field calling.${k}`;
    }
  }
  const enumErr =
    checkEnum(c.status, ['ENABLED', 'DISABLED'], 'calling.status') ??
    checkEnum(c.call_icon_visibility, ['DEFAULT', 'DISABLE_ALL'], 'calling.call_icon_visibility') ??
    checkEnum(c.callback_permission_status, ['ENABLED', 'DISABLED'], 'calling.callback_permission_status');
  if (enumErr) {
    return enumErr;
  }
  if (c.call_icons !== undefined) {
    const countries = isObject(c.call_icons) ? c.call_icons.restrict_to_user_countries : undefined;
    if (!Array.isArray(countries) || !countries.every((x) => typeof x === 'string' && /^[A-Z]{2}$/.test(x))) {
      return 'calling.call_icons.restrict_to_user_countries must be an array of ISO country codes';
    }
  }
  if (c.call_hours !== undefined) {
    const err = validateCallHours(c.call_hours);
    if (err) {
      return err;
    }
  }
  if (c.sip !== undefined) {
    if (!isObject(c.sip)) {
      return 'calling.sip must be an object';
    }
    const err = checkEnum(c.sip.status, ['ENABLED', 'DISABLED'], 'calling.sip.status');
    if (err) {
      return err;
    }
  }
  if (c.audio !== undefined) {
    const codecs = isObject(c.audio) ? c.audio.additional_codecs : undefined;
    if (!Array.isArray(codecs) || !codecs.every((x) => x === 'PCMA' || x === 'PCMU')) {
      return 'calling.audio.additional_codecs must be a subset of PCMA|PCMU';
    }
  }
  return undefined;
}

// ───────────────────────────── internal state ─────────────────────────────

type CallState = 'RINGING' | 'PRE_ACCEPTED' | 'ACTIVE' | 'CALLING' | 'ENDED';
type Direction = 'USER_INITIATED' | 'BUSINESS_INITIATED';

interface FakeCall {
  wacid: string;
  number: FakeMetaNumber;
  direction: Direction;
  user: string;
  state: CallState;
  preAcceptSdp?: string;
  bizOpaque?: string;
  ctaPayload?: string;
  deeplinkPayload?: string;
  answeredAt?: number;
  /** Clock time (ms) when the ring window lapses; checked by timers and by advance(). */
  ringDeadline?: number;
  ringTimer?: NodeJS.Timeout;
}

/** Per (number, user) bookkeeping: permission, request/connection counters. */
interface Pair {
  status: 'no_permission' | 'temporary' | 'permanent';
  expiresAt?: number;
  requestTimes: number[];
  lastRequestWamid?: string;
  connectedBics: number[];
  unansweredInARow: number;
}

interface Reply {
  status: number;
  body?: unknown;
  html?: string;
  headers?: Record<string, string>;
  /** Webhook emissions caused by this request, run after the response is written. */
  after?: Array<() => Promise<void>>;
}

interface Held {
  payload: Json;
  o: EmitOptions & { secretOf?: string };
}

function isRingingUic(c: FakeCall): boolean {
  return c.state === 'RINGING' || c.state === 'PRE_ACCEPTED';
}

function isLive(c: FakeCall): boolean {
  return c.state !== 'ENDED';
}

// ───────────────────────────── the fake ─────────────────────────────

class FakeMetaServer implements FakeMeta {
  baseUrl = '';
  requests: RecordedRequest[] = [];
  violations: string[] = [];
  webhookAttempts: WebhookAttempt[] = [];
  private readonly userIdentities = new Map<string, { userId: string; phoneHidden?: boolean }>();
  private offerAnswerer: ((offerSdp: string) => Promise<string>) | null = null;

  private readonly opts: FakeMetaOptions;
  private readonly numbers = new Map<string, FakeMetaNumber>();
  private readonly settings = new Map<string, Record<string, Json>>();
  private readonly messagingLimits = new Map<string, number>();
  private readonly calls = new Map<string, FakeCall>();
  private readonly pairs = new Map<string, Pair>();
  private readonly userNames = new Map<string, string>();
  private readonly initiations = new Map<string, number[]>();
  private readonly permissionGets = new Map<string, number[]>();
  private readonly recentConnects: Array<{ raw: string; at: number }> = [];
  private readonly injections: Array<{ rule: InjectRule; left: number }> = [];
  private readonly pending = new Set<Promise<void>>();
  private held: Held[] = [];
  private emitDefaults: EmitOptions;
  private webhookUrl: string | undefined;
  private clockOffset = 0;
  private readonly baseClock: () => number;
  private readonly seedTag: string;
  private readonly counters: Record<string, number> = {};
  private readonly random: () => number;
  private readonly closing = new AbortController();
  private closed = false;
  private server: Server | undefined;

  constructor(opts: FakeMetaOptions) {
    this.opts = opts;
    this.baseClock = opts.now ?? Date.now;
    const seed = opts.seed ?? 'seed';
    // Fixed width whatever the seed's length, so every id has the same shape.
    this.seedTag = createHash('sha256').update(seed).digest('hex').slice(0, 12);
    this.random = seededRandom(seed);
    this.webhookUrl = opts.webhookUrl;
    this.emitDefaults = { ...opts.emitDefaults };
    for (const n of opts.numbers) {
      this.addNumber(n);
    }
  }

  setAccessToken(phoneNumberId: string, accessToken: string): void {
    const n = this.numberOf(phoneNumberId);
    this.numbers.set(phoneNumberId, { ...n, accessToken });
  }

  addNumber(n: FakeMetaNumber): void {
    if (this.numbers.has(n.phoneNumberId)) {
      throw new Error(`fake Meta: phone_number_id ${n.phoneNumberId} is known already`);
    }
    this.numbers.set(n.phoneNumberId, n);
    this.settings.set(n.phoneNumberId, {
      calling: {
        status: n.callingEnabled === false ? 'DISABLED' : 'ENABLED',
        call_icon_visibility: 'DEFAULT',
        callback_permission_status: 'DISABLED',
        sip: { status: n.sip ? 'ENABLED' : 'DISABLED' },
      },
    });
  }

  async listen(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  // ── clock, ids ──

  now(): number {
    return this.baseClock() + this.clockOffset;
  }

  advance(ms: number): void {
    this.clockOffset += ms;
    for (const call of this.calls.values()) {
      if (call.ringDeadline !== undefined && call.ringDeadline <= this.now()) {
        this.ringTimeout(call);
      }
    }
  }

  /** base64 of `FAKE:<seedTag>:<KIND>:<counter>`, fixed width; one counter per kind so ids don't shift each other. */
  private nextId(kind: 'CALL' | 'MSG' | 'TRACE'): string {
    const n = (this.counters[kind] ?? 0) + 1;
    this.counters[kind] = n;
    return Buffer.from(`FAKE:${this.seedTag}:${kind.padEnd(5, '_')}:${String(n).padStart(10, '0')}`).toString('base64');
  }

  private newWacid(): string {
    return `wacid.${this.nextId('CALL')}`;
  }

  private newWamid(): string {
    return `wamid.${this.nextId('MSG')}`;
  }

  private newTraceId(): string {
    return this.nextId('TRACE').replace(/=+$/, '');
  }

  // ── control API: configuration ──

  setWebhookUrl(url: string): void {
    this.webhookUrl = url;
  }

  setEmitDefaults(o: EmitOptions): void {
    this.emitDefaults = { ...o };
  }

  inject(rule: InjectRule): void {
    this.injections.push({ rule, left: rule.times ?? 1 });
  }

  clearInjections(): void {
    this.injections.length = 0;
  }

  setMessagingLimit(phoneNumberId: string, limit: number): void {
    this.numberOf(phoneNumberId);
    this.messagingLimits.set(phoneNumberId, limit);
  }

  callState(wacid: string): string | undefined {
    return this.calls.get(wacid)?.state;
  }

  countRequests(filter: { action?: string; call_id?: string; edge?: string } = {}): number {
    return this.requests.filter((r) => {
      if (filter.edge !== undefined && r.edge !== filter.edge) {
        return false;
      }
      if (filter.action === undefined && filter.call_id === undefined) {
        return true;
      }
      if (r.method !== 'POST' || r.edge !== 'calls' || !isObject(r.body)) {
        return false;
      }
      if (filter.action !== undefined && r.body.action !== filter.action) {
        return false;
      }
      return filter.call_id === undefined || r.body.call_id === filter.call_id;
    }).length;
  }

  private numberOf(phoneNumberId?: string): FakeMetaNumber {
    const n = phoneNumberId === undefined ? this.opts.numbers[0] : this.numbers.get(phoneNumberId);
    if (!n) {
      throw new Error(`fake Meta: unknown phone_number_id ${phoneNumberId}`);
    }
    return n;
  }

  private callingSettings(n: FakeMetaNumber): Record<string, Json> {
    return this.settings.get(n.phoneNumberId)!.calling;
  }

  private callingEnabled(n: FakeMetaNumber): boolean {
    return this.callingSettings(n).status === 'ENABLED';
  }

  private sipEnabled(n: FakeMetaNumber): boolean {
    return this.callingSettings(n).sip?.status === 'ENABLED';
  }

  private liveCalls(n: FakeMetaNumber): FakeCall[] {
    return [...this.calls.values()].filter((c) => c.number === n && isLive(c));
  }

  // ── permissions ──

  private pair(phoneNumberId: string, waId: string): Pair {
    const key = `${phoneNumberId}:${waId}`;
    const p = this.pairs.get(key) ?? {
      status: 'no_permission',
      requestTimes: [],
      connectedBics: [],
      unansweredInARow: 0,
    };
    this.pairs.set(key, p);
    // A temporary permission lapses silently (no webhook), so expiry is evaluated lazily.
    if (p.status === 'temporary' && p.expiresAt !== undefined && p.expiresAt <= this.now()) {
      p.status = 'no_permission';
      delete p.expiresAt;
    }
    return p;
  }

  answerOffersWith(answer: ((offerSdp: string) => Promise<string>) | null): void {
    this.offerAnswerer = answer;
  }

  grantPermission(phoneNumberId: string, waId: string, kind: 'temporary' | 'permanent'): void {
    const p = this.pair(phoneNumberId, waId);
    p.status = kind;
    if (kind === 'temporary') {
      p.expiresAt = this.now() + TEMPORARY_PERMISSION_MS;
    } else {
      delete p.expiresAt;
    }
  }

  revokePermission(phoneNumberId: string, waId: string): void {
    const p = this.pair(phoneNumberId, waId);
    p.status = 'no_permission';
    delete p.expiresAt;
  }

  /** "Any connected call resets" the pair's permission-request counters (§1.6). */
  private noteConnected(call: FakeCall): void {
    const p = this.pair(call.number.phoneNumberId, call.user);
    p.requestTimes = [];
    if (call.direction === 'BUSINESS_INITIATED') {
      p.connectedBics.push(this.now());
      p.unansweredInARow = 0;
    }
  }

  // ───────────────────────────── HTTP side ─────────────────────────────

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw: string;
    try {
      raw = await readBody(req);
    } catch {
      return; // client went away mid-body
    }
    const rec = this.record(req, raw);
    try {
      const rule = this.takeInjection(rec);
      if (rule && (await this.applyInjection(rule, rec, req, res))) {
        return;
      }
      if (this.closed) {
        return;
      }
      await this.respond(res, rec, this.route(rec));
    } catch (err) {
      // A bug in the fake must fail the test loudly, not look like a Meta error.
      this.violations.push(
        `fake Meta internal error on ${rec.method} ${rec.path}: ${(err as Error).stack ?? String(err)}`,
      );
      if (!res.headersSent) {
        void this.write(res, rec, this.graphError(500, 1, TITLE_BY_CODE[1]!, String(err)));
      }
    }
  }

  private record(req: IncomingMessage, raw: string): RecordedRequest {
    const path = req.url ?? '/';
    const m = /^\/([^/]+)\/([^/]+)\/([^/]+?)\/?$/.exec(path.split('?')[0]!);
    let body: Json;
    try {
      body = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      body = undefined;
    }
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      version: m?.[1] ?? '',
      phoneNumberId: m?.[2] ?? '',
      edge: m?.[3] ?? '',
      headers: { ...req.headers },
      rawBody: raw,
      body,
      status: 0,
      response: null,
      at: this.now(),
    };
    this.requests.push(rec);
    // §1.1: every body goes as JSON, so said; Graph reads a body of another type as form fields, not as ours.
    if (rec.method === 'POST' && !/^application\/json\b/i.test(String(req.headers['content-type'] ?? ''))) {
      this.violation(`POST ${path.split('?')[0]} without Content-Type: application/json`);
    }
    return rec;
  }

  /**
   * Write the reply; webhooks it caused run afterwards (tracked at once, so a flush() right after the client got
   * its response still waits for them). With `beforeResponse` they start first and the response waits for them.
   */
  private async respond(res: ServerResponse, rec: RecordedRequest, reply: Reply): Promise<void> {
    const after = reply.after ?? [];
    const early = this.emitDefaults.beforeResponse;
    if (after.length > 0 && early) {
      const cap = typeof early === 'number' ? early : BEFORE_RESPONSE_DEFAULT_WAIT_MS;
      await waitAtMost(this.track(this.runSequence(after)), cap);
      await this.write(res, rec, reply);
      return;
    }
    const written = this.write(res, rec, reply);
    if (after.length > 0) {
      this.track(written.then(() => this.runSequence(after)));
    }
    await written;
  }

  private async runSequence(steps: Array<() => Promise<void>>): Promise<void> {
    for (const step of steps) {
      await step();
    }
  }

  /** Resolves once the response is flushed or the connection is gone (never hangs on an aborted client). */
  private write(res: ServerResponse, rec: RecordedRequest, reply: Reply): Promise<void> {
    rec.status = reply.status;
    rec.response = reply.html ?? reply.body;
    const payload = reply.html ?? JSON.stringify(reply.body);
    return new Promise((resolve) => {
      res.once('finish', resolve);
      res.once('close', resolve);
      res.writeHead(reply.status, {
        'content-type': reply.html !== undefined ? 'text/html; charset=utf-8' : 'application/json; charset=UTF-8',
        'x-fb-request-id': this.newTraceId(),
        ...reply.headers,
      });
      res.end(payload);
      // Already gone (client aborted while we waited): 'close' has fired before we listened.
      if (res.destroyed || res.writableFinished) {
        resolve();
      }
    });
  }

  // ── injection (§5.5) ──

  private takeInjection(rec: RecordedRequest): InjectRule | undefined {
    const i = this.injections.findIndex(({ rule }) => {
      if (rule.action !== undefined && (!isObject(rec.body) || rec.body.action !== rule.action)) {
        return false;
      }
      return rule.path === undefined || rec.edge === rule.path || rec.path.includes(rule.path);
    });
    if (i < 0) {
      return undefined;
    }
    const entry = this.injections[i]!;
    if (--entry.left <= 0) {
      this.injections.splice(i, 1);
    }
    return entry.rule;
  }

  /** Returns true when the injected behaviour replaced normal handling; never touches call state. */
  private async applyInjection(
    rule: InjectRule,
    rec: RecordedRequest,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<boolean> {
    if (rule.latencyMs !== undefined) {
      const [min, max] = Array.isArray(rule.latencyMs) ? rule.latencyMs : [rule.latencyMs, rule.latencyMs];
      await this.sleep(min + Math.floor(this.random() * (max - min + 1)));
    }
    if (this.closed) {
      return true;
    }
    if (rule.hang) {
      return true; // never answered; close() destroys the socket
    }
    if (rule.reset) {
      req.socket.destroy();
      return true;
    }
    if (rule.successFalse) {
      await this.write(res, rec, { status: rule.status ?? 200, body: { success: false } });
      return true;
    }
    if (rule.html) {
      const status = rule.status ?? 502;
      await this.write(res, rec, {
        status,
        html: `<!DOCTYPE html><html><body><h1>${status} Error</h1><p>Sorry, something went wrong.</p></body></html>`,
      });
      return true;
    }
    if (rule.error) {
      const { code } = rule.error;
      const title = rule.error.message?.replace(/^\(#\d+\)\s*/, '') ?? TITLE_BY_CODE[code] ?? 'Error';
      const reply = this.graphError(
        rule.status ?? statusForGraphCode(code),
        code,
        title,
        rule.error.error_data?.details,
        { type: rule.error.type },
      );
      await this.write(res, rec, reply);
      return true;
    }
    if (rule.status !== undefined) {
      const code = rule.status >= 500 ? (rule.status === 500 ? 1 : 2) : 100;
      await this.write(res, rec, this.graphError(rule.status, code, TITLE_BY_CODE[code]!));
      return true;
    }
    return false; // latency only: carry on normally
  }

  // ── Graph errors (§2.1) ──

  private graphError(
    status: number,
    code: number,
    title: string,
    details?: string,
    extra: { type?: string; subcode?: number } = {},
  ): Reply {
    const message = `(#${code}) ${title}`;
    const fbtraceId = this.newTraceId();
    const error: Record<string, unknown> = { message, type: extra.type ?? 'OAuthException', code };
    if (extra.subcode !== undefined) {
      error.error_subcode = extra.subcode;
    }
    error.error_data = { messaging_product: 'whatsapp', details: details ?? title };
    error.fbtrace_id = fbtraceId;
    return {
      status,
      body: { error },
      headers: {
        'www-authenticate': headerSafe(`OAuth "Facebook Platform" "invalid_request" "${message}"`),
        'x-fb-trace-id': fbtraceId,
      },
    };
  }

  private invalid(details: string): Reply {
    return this.graphError(400, 100, TITLE_BY_CODE[100]!, details);
  }

  private codeError(code: number, details?: string): Reply {
    return this.graphError(statusForGraphCode(code), code, TITLE_BY_CODE[code] ?? 'Error', details);
  }

  private success(): Reply {
    return {
      status: 200,
      body: this.opts.shortSuccess ? { success: true } : { messaging_product: 'whatsapp', success: true },
    };
  }

  private violation(text: string): void {
    this.violations.push(text);
  }

  /** Graph takes a `+` here too, but the spec (§1.1) has the adapter send digits only: a `+` is our mistake. */
  private digitsOnly(what: string, value: string): void {
    if (value.startsWith('+')) {
      this.violation(`${what} "${value}" has a +: send digits only`);
    }
  }

  // ── routing and §5.2 validation ──

  private route(rec: RecordedRequest): Reply {
    if (!rec.edge || !/^v\d+\.\d+$/.test(rec.version)) {
      return this.invalid(`Unknown path components: ${rec.path.split('?')[0]}`);
    }
    const authError = this.checkToken(rec);
    if (authError) {
      return authError;
    }
    const number = this.numbers.get(rec.phoneNumberId);
    if (!number) {
      return this.graphError(
        400,
        100,
        `Unsupported ${rec.method.toLowerCase()} request. Object with ID '${rec.phoneNumberId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation`,
        undefined,
        { type: 'GraphMethodException', subcode: 33 },
      );
    }
    switch (rec.edge) {
      case 'calls':
        return this.handleCalls(rec, number);
      case 'call_permissions':
        return this.handleCallPermissions(rec, number);
      case 'messages':
        return this.handleMessages(rec, number);
      case 'settings':
        return this.handleSettings(rec, number);
      default:
        return this.invalid(`Unknown path components: /${rec.edge}`);
    }
  }

  /** The token must be the number's; for an unknown number any configured token passes (so 400/33 shows). */
  private checkToken(rec: RecordedRequest): Reply | undefined {
    const header = rec.headers.authorization;
    const token = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
    const number = this.numbers.get(rec.phoneNumberId);
    const ok =
      token !== undefined &&
      (number ? number.accessToken === token : [...this.numbers.values()].some((n) => n.accessToken === token));
    if (ok) {
      return undefined;
    }
    return this.graphError(
      401,
      190,
      TITLE_BY_CODE[190]!,
      token === undefined
        ? 'An access token is required to request this resource.'
        : 'Invalid OAuth access token - Cannot parse access token',
    );
  }

  // ───────────────────────────── /calls ─────────────────────────────

  private handleCalls(rec: RecordedRequest, number: FakeMetaNumber): Reply {
    if (rec.method !== 'POST') {
      return this.invalid(`Unsupported ${rec.method.toLowerCase()} request on /calls`);
    }
    const bodyError = this.validateCallsBody(rec);
    if (bodyError) {
      return bodyError;
    }
    if (this.sipEnabled(number)) {
      return this.codeError(131055, 'SIP is enabled for this phone number; use SIP signaling');
    }
    if (!this.callingEnabled(number)) {
      return this.codeError(138000, 'Calling is not enabled for this phone number');
    }
    const b = rec.body;
    switch (b.action as CallAction) {
      case 'connect':
        return this.connect(rec, number);
      case 'pre_accept':
        return this.preAccept(b, number);
      case 'accept':
        return this.accept(b, number);
      case 'reject':
        return this.reject(b, number);
      case 'terminate':
        return this.terminate(b, number);
    }
  }

  /** §5.2 body checks, first failure wins; also logs the violations a correct adapter never produces. */
  private validateCallsBody(rec: RecordedRequest): Reply | undefined {
    const b = rec.body;
    const major = Number(/^v(\d+)/.exec(rec.version)?.[1]);
    if (major < 17) {
      return this.invalid(`Calling requires Graph API v17.0 or later (got ${rec.version})`);
    }
    if (!isObject(b)) {
      return this.invalid('Request body must be a JSON object');
    }
    const action = b.action;
    const label = `${String(action)}${typeof b.call_id === 'string' ? ` ${b.call_id}` : ''}`;
    if (isObject(b.connection) && b.connection.webrtc !== undefined) {
      this.violation(`${label}: legacy connection.webrtc field sent in a request`);
    }
    if (b.messaging_product !== 'whatsapp') {
      return this.invalid('messaging_product must be "whatsapp"');
    }
    if (!CALL_ACTIONS.includes(action)) {
      return this.invalid(`Unknown action ${JSON.stringify(action)}; expected one of ${CALL_ACTIONS.join('|')}`);
    }
    if (action === 'connect') {
      if (typeof b.to !== 'string' || !/^\+?\d{5,20}$/.test(b.to)) {
        return this.invalid('Missing or invalid parameter: to');
      }
      this.digitsOnly('connect `to`', b.to);
    } else if (typeof b.call_id !== 'string' || b.call_id === '') {
      return this.invalid('Missing parameter: call_id');
    }
    if (action === 'connect' || action === 'pre_accept' || action === 'accept') {
      const err = this.checkSession(b.session, action === 'connect' ? 'offer' : 'answer', label);
      if (err) {
        return this.invalid(err);
      }
    }
    const opaque = b.biz_opaque_callback_data;
    if (opaque !== undefined && (typeof opaque !== 'string' || opaque.length > 512)) {
      return this.invalid('biz_opaque_callback_data must be a string of at most 512 characters');
    }
    return undefined;
  }

  private checkSession(session: unknown, expected: 'offer' | 'answer', label: string): string | undefined {
    if (!isObject(session)) {
      return 'Missing parameter: session';
    }
    if (session.sdp_type !== expected) {
      return `session.sdp_type must be "${expected}" for this action`;
    }
    const text = session.sdp;
    if (typeof text !== 'string' || text === '') {
      return 'Missing parameter: session.sdp';
    }
    if (!text.startsWith('v=0')) {
      return 'Invalid SDP: must start with "v=0"';
    }
    if (!text.includes('\r\n') || /(^|[^\r])\n/.test(text)) {
      this.violation(`${label}: SDP without CRLF line endings`);
      return 'Invalid SDP: lines must end with CRLF (\\r\\n)';
    }
    return undefined;
  }

  private callOf(number: FakeMetaNumber, wacid: string): FakeCall | undefined {
    const call = this.calls.get(wacid);
    return call && call.number === number ? call : undefined;
  }

  private wrongState(call: FakeCall | undefined, action: string): Reply {
    if (!call) {
      return this.invalid('Invalid call id');
    }
    if (call.state === 'ENDED') {
      return this.invalid('Call already terminated');
    }
    return this.invalid(`Cannot ${action} a ${call.direction} call in state ${call.state}`);
  }

  private preAccept(b: Json, number: FakeMetaNumber): Reply {
    const call = this.callOf(number, b.call_id);
    if (call?.state !== 'RINGING') {
      return this.wrongState(call, 'pre_accept');
    }
    call.state = 'PRE_ACCEPTED';
    call.preAcceptSdp = b.session.sdp;
    return this.success();
  }

  private accept(b: Json, number: FakeMetaNumber): Reply {
    const call = this.callOf(number, b.call_id);
    if (!call || !isRingingUic(call)) {
      return this.wrongState(call, 'accept');
    }
    if (call.state === 'PRE_ACCEPTED' && b.session.sdp !== call.preAcceptSdp) {
      return this.invalid('The SDP in accept does not match the SDP sent in pre_accept for this call');
    }
    this.clearRing(call);
    call.state = 'ACTIVE';
    call.answeredAt = this.now();
    if (typeof b.biz_opaque_callback_data === 'string') {
      call.bizOpaque = b.biz_opaque_callback_data;
    }
    this.noteConnected(call);
    return this.success();
  }

  private reject(b: Json, number: FakeMetaNumber): Reply {
    const call = this.callOf(number, b.call_id);
    if (!call || call.state === 'ENDED') {
      return this.alreadyEnded(call, 'reject');
    }
    if (!isRingingUic(call)) {
      // 400/100 reads as ALREADY_ENDED to the adapter, so without this log a wrong action would pass silently.
      this.violation(`reject on ${call.direction} call ${call.wacid} in state ${call.state} (use terminate)`);
      return this.invalid(`Cannot reject a ${call.direction} call in state ${call.state}`);
    }
    return { ...this.success(), after: [this.end(call)] };
  }

  private terminate(b: Json, number: FakeMetaNumber): Reply {
    const call = this.callOf(number, b.call_id);
    if (!call || call.state === 'ENDED') {
      return this.alreadyEnded(call, 'terminate');
    }
    if (isRingingUic(call)) {
      this.violation(`terminate on ringing USER_INITIATED call ${call.wacid} in state ${call.state} (use reject)`);
      if (!this.opts.lenientTerminate) {
        return this.invalid('Call has not been accepted; use reject');
      }
    }
    return { ...this.success(), after: [this.end(call)] };
  }

  private alreadyEnded(call: FakeCall | undefined, action: string): Reply {
    if (this.opts.alreadyEnded === 'success') {
      return this.success();
    }
    return this.wrongState(call, action);
  }

  private connect(rec: RecordedRequest, number: FakeMetaNumber): Reply {
    const b = rec.body;
    const to = digitsOnly(b.to);
    const now = this.now();
    this.noteReplayedConnect(rec, to, now);
    const pair = this.pair(number.phoneNumberId, to);
    if ((this.opts.requirePermission ?? true) && pair.status === 'no_permission') {
      return this.codeError(138006, 'No approved call permission from the recipient');
    }
    if (this.liveCalls(number).some((c) => c.user === to)) {
      return this.codeError(138003, 'There is already an ongoing call with this user');
    }
    if (this.liveCalls(number).length >= (this.opts.maxConcurrentCalls ?? 1000)) {
      return this.codeError(138002, 'Concurrent calls limit reached for this phone number');
    }
    const initiations = inWindow(this.initiations.get(number.phoneNumberId) ?? [], now, DAY_MS);
    this.initiations.set(number.phoneNumberId, initiations);
    if (initiations.length >= (this.opts.maxInitiationsPerDay ?? 10000)) {
      return this.codeError(138005, 'Call initiation limit reached for this phone number');
    }
    const connected = inWindow(pair.connectedBics, now, DAY_MS);
    if (connected.length >= (this.opts.maxConnectedPerPairPerDay ?? 100)) {
      return this.codeError(138012, `Next call allowed at ${epochSec(connected[0]! + DAY_MS)}`);
    }

    initiations.push(now);
    const call: FakeCall = {
      wacid: this.newWacid(),
      number,
      direction: 'BUSINESS_INITIATED',
      user: to,
      state: 'CALLING',
    };
    if (typeof b.biz_opaque_callback_data === 'string') {
      call.bizOpaque = b.biz_opaque_callback_data;
    }
    this.calls.set(call.wacid, call);
    this.startRing(call, this.opts.bicRingTimeoutMs ?? 60000);
    const answer = this.offerAnswerer;
    const offer: string = b.session?.sdp ?? '';
    return {
      status: 200,
      body: { messaging_product: 'whatsapp', calls: [{ id: call.wacid }] },
      after: [
        answer
          ? async () => this.emitter(number, { calls: [this.bicConnectEvent(call, await answer(offer))] })()
          : this.emitter(number, { calls: [this.bicConnectEvent(call)] }),
        this.emitter(number, { statuses: [this.statusEvent(call, 'RINGING')] }),
      ],
    };
  }

  /** A replayed connect can ring the user twice (§1.1): identical bodies within 5 s are a violation. */
  private noteReplayedConnect(rec: RecordedRequest, to: string, now: number): void {
    while (this.recentConnects.length > 0 && this.recentConnects[0]!.at < now - REPLAY_WINDOW_MS) {
      this.recentConnects.shift();
    }
    if (this.recentConnects.some((c) => c.raw === rec.rawBody)) {
      this.violation(`connect to ${to} replayed with an identical body within 5 s`);
    }
    this.recentConnects.push({ raw: rec.rawBody, at: now });
  }

  // ───────────────────────────── /call_permissions (§1.5) ─────────────────────────────

  private handleCallPermissions(rec: RecordedRequest, number: FakeMetaNumber): Reply {
    if (rec.method !== 'GET') {
      return this.invalid(`Unsupported ${rec.method.toLowerCase()} request on /call_permissions`);
    }
    const waId = new URLSearchParams(rec.path.split('?')[1] ?? '').get('user_wa_id');
    if (!waId || !/^\+?\d{5,20}$/.test(waId)) {
      return this.invalid('Missing or invalid parameter: user_wa_id');
    }
    this.digitsOnly('call_permissions `user_wa_id`', waId);
    const now = this.now();
    const gets = inWindow(this.permissionGets.get(number.phoneNumberId) ?? [], now, 1000);
    this.permissionGets.set(number.phoneNumberId, gets);
    gets.push(now);
    if (gets.length > (this.opts.permissionGetRatePerSec ?? 100)) {
      return this.codeError(613, 'Rate limit for call_permissions reached');
    }

    const pair = this.pair(number.phoneNumberId, digitsOnly(waId));
    const permission: Record<string, unknown> = { status: pair.status };
    if (pair.status === 'temporary' && pair.expiresAt !== undefined) {
      permission.expiration_time = Math.floor(pair.expiresAt / 1000);
    }
    const day = this.usage(pair.requestTimes, DAY_MS, this.opts.permissionRequestsPerDay ?? 1, 'PT24H');
    const week = this.usage(pair.requestTimes, WEEK_MS, this.opts.permissionRequestsPerWeek ?? 2, 'P7D');
    const calls = this.usage(pair.connectedBics, DAY_MS, this.opts.maxConnectedPerPairPerDay ?? 100, 'PT24H');
    return {
      status: 200,
      body: {
        messaging_product: 'whatsapp',
        permission,
        actions: [
          {
            action_name: 'send_call_permission_request',
            can_perform_action: pair.status !== 'permanent' && !day.full && !week.full,
            limits: [day.limit, week.limit],
          },
          {
            action_name: 'start_call',
            can_perform_action: pair.status !== 'no_permission' && !calls.full,
            limits: [calls.limit],
          },
        ],
      },
    };
  }

  private usage(
    times: number[],
    windowMs: number,
    max: number,
    period: string,
  ): { full: boolean; limit: Record<string, unknown> } {
    const now = this.now();
    const inside = times.filter((t) => t > now - windowMs);
    const limit: Record<string, unknown> = { time_period: period, max_allowed: max, current_usage: inside.length };
    const full = inside.length >= max;
    if (full && inside.length > 0) {
      limit.limit_expiration_time = Math.floor((inside[0]! + windowMs) / 1000);
    }
    return { full, limit };
  }

  // ───────────────────────────── /messages (§1.6) ─────────────────────────────

  private handleMessages(rec: RecordedRequest, number: FakeMetaNumber): Reply {
    if (rec.method !== 'POST') {
      return this.invalid(`Unsupported ${rec.method.toLowerCase()} request on /messages`);
    }
    const b = rec.body;
    if (!isObject(b)) {
      return this.invalid('Request body must be a JSON object');
    }
    if (b.messaging_product !== 'whatsapp') {
      return this.invalid('messaging_product must be "whatsapp"');
    }
    if (typeof b.to !== 'string' || !/^\+?\d{5,20}$/.test(b.to)) {
      return this.invalid('Missing or invalid parameter: to');
    }
    this.digitsOnly('messages `to`', b.to);
    const i = b.interactive;
    if (b.type !== 'interactive' || !isObject(i) || i.type !== 'call_permission_request') {
      return this.invalid('The fake only supports interactive call_permission_request messages');
    }
    if (!isObject(i.action) || i.action.name !== 'call_permission_request') {
      return this.invalid('interactive.action.name must be "call_permission_request"');
    }
    if (i.header !== undefined || i.footer !== undefined) {
      return this.invalid('call_permission_request does not support header or footer');
    }
    if (i.body !== undefined && (!isObject(i.body) || typeof i.body.text !== 'string')) {
      return this.invalid('interactive.body.text must be a string');
    }

    const to = digitsOnly(b.to);
    const pair = this.pair(number.phoneNumberId, to);
    if (pair.status === 'permanent') {
      return this.codeError(138017, 'The user has already granted permanent call permission');
    }
    const now = this.now();
    inWindow(pair.requestTimes, now, WEEK_MS);
    const lastDay = pair.requestTimes.filter((t) => t > now - DAY_MS).length;
    if (
      lastDay >= (this.opts.permissionRequestsPerDay ?? 1) ||
      pair.requestTimes.length >= (this.opts.permissionRequestsPerWeek ?? 2)
    ) {
      return this.codeError(138009, 'Call permission request limit reached for this user');
    }
    pair.requestTimes.push(now);
    const wamid = this.newWamid();
    pair.lastRequestWamid = wamid;
    return {
      status: 200,
      body: { messaging_product: 'whatsapp', contacts: [{ input: b.to, wa_id: to }], messages: [{ id: wamid }] },
    };
  }

  // ───────────────────────────── /settings (§1.4) ─────────────────────────────

  private handleSettings(rec: RecordedRequest, number: FakeMetaNumber): Reply {
    const stored = this.settings.get(number.phoneNumberId)!;
    if (rec.method === 'GET') {
      if (/[?&]include_sip_credentials=true/.test(rec.path)) {
        this.violation('GET settings with include_sip_credentials=true');
      }
      return { status: 200, body: clone(stored) };
    }
    if (rec.method !== 'POST') {
      return this.invalid(`Unsupported ${rec.method.toLowerCase()} request on /settings`);
    }
    const b = rec.body;
    if (!isObject(b) || Object.keys(b).length === 0) {
      return this.invalid('Request body must be a non-empty JSON object');
    }
    if (b.calling !== undefined) {
      const err = validateCallingSettings(b.calling);
      if (err) {
        return this.invalid(err);
      }
      if (b.calling.status === 'ENABLED' && (this.messagingLimits.get(number.phoneNumberId) ?? Infinity) < 2000) {
        return this.codeError(138015, 'Calling requires a messaging limit of at least 2000');
      }
      // Partial at the `calling` level: each object given replaces the stored one whole (call_hours included).
      stored.calling = { ...stored.calling, ...clone(b.calling) };
      // Meta tells every subscribed app about the change, ours included (§3: account_settings_update).
      void this.accountSettingsUpdate(number.phoneNumberId);
    }
    for (const [k, v] of Object.entries(b)) {
      if (k !== 'calling') {
        stored[k] = clone(v);
      }
    }
    return { status: 200, body: { success: true } };
  }

  // ───────────────────────────── call lifecycle ─────────────────────────────

  private startRing(call: FakeCall, ms: number): void {
    call.ringDeadline = this.now() + ms;
    call.ringTimer = setTimeout(() => this.ringTimeout(call), ms);
    call.ringTimer.unref();
  }

  private clearRing(call: FakeCall): void {
    if (call.ringTimer) {
      clearTimeout(call.ringTimer);
    }
    delete call.ringTimer;
    delete call.ringDeadline;
  }

  /** Nobody answered in time: UIC → missed; BIC → unanswered (4 in a row revoke the permission, §6). */
  private ringTimeout(call: FakeCall): void {
    if (this.closed || !(isRingingUic(call) || call.state === 'CALLING')) {
      return;
    }
    const steps = [this.end(call)];
    if (call.direction === 'BUSINESS_INITIATED') {
      const pair = this.pair(call.number.phoneNumberId, call.user);
      pair.unansweredInARow++;
      if (pair.unansweredInARow >= (this.opts.unansweredBeforeRevoke ?? 4) && pair.status !== 'no_permission') {
        pair.unansweredInARow = 0;
        pair.status = 'no_permission';
        delete pair.expiresAt;
        steps.push(this.permissionReplyEmitter(call.number, call.user, 'reject', { source: 'automatic' }));
      }
    }
    this.track(this.runSequence(steps));
  }

  /** Move the call to ENDED now and return the emission of its single terminate webhook. */
  private end(call: FakeCall, o?: EmitOptions, errors?: Json[]): () => Promise<void> {
    this.clearRing(call);
    call.state = 'ENDED';
    return this.emitter(
      call.number,
      {
        ...this.contactsFor(call),
        calls: [this.terminateEvent(call, errors !== undefined)],
        ...(errors ? { errors } : {}),
      },
      o,
    );
  }

  /** Webhook emission bound to a number (its secret), built now (timestamps), sent when called. */
  private emitter(
    number: FakeMetaNumber,
    value: Parameters<FakeMeta['buildWebhook']>[1],
    o?: EmitOptions,
    field: 'calls' | 'messages' = 'calls',
  ): () => Promise<void> {
    const payload = this.buildWebhook(number.phoneNumberId, value, field);
    return () => this.sendWebhook(payload, { ...o, secretOf: number.phoneNumberId });
  }

  private contactsFor(call: FakeCall): { contacts?: Json[] } {
    if (call.direction !== 'USER_INITIATED') {
      return {};
    }
    return { contacts: [this.contactOf(call.user)] };
  }

  /**
   * Meta's business-scoped user ids (2026): a user may be named by `from_user_id` (contacts: `user_id`), and a user
   * who hides their number has no `from`/`wa_id` at all.
   */
  setUserIdentity(waId: string, identity: { userId: string; phoneHidden?: boolean }): void {
    this.userIdentities.set(digitsOnly(waId), identity);
  }

  private userFields(waId: string): Record<string, string> {
    const identity = this.userIdentities.get(waId);
    return {
      ...(identity?.phoneHidden ? {} : { from: waId }),
      ...(identity ? { from_user_id: identity.userId } : {}),
    };
  }

  private contactOf(waId: string): Record<string, unknown> {
    const identity = this.userIdentities.get(waId);
    return {
      profile: { name: this.userNames.get(waId) ?? 'WhatsApp User' },
      ...(identity?.phoneHidden ? {} : { wa_id: waId }),
      ...(identity ? { user_id: identity.userId } : {}),
    };
  }

  private bicConnectEvent(call: FakeCall, answerSdp: string = CANNED_ANSWER_SDP): Json {
    return {
      id: call.wacid,
      from: call.user,
      to: call.number.displayPhoneNumber,
      event: 'connect',
      timestamp: epochSec(this.now()),
      direction: call.direction,
      ...(call.bizOpaque !== undefined ? { biz_opaque_callback_data: call.bizOpaque } : {}),
      session: { sdp_type: 'answer', sdp: answerSdp },
      // Legacy form some integrations still read (§3.3).
      connection: { webrtc: { sdp: JSON.stringify({ sdp: answerSdp, type: 'answer' }) } },
    };
  }

  private statusEvent(call: FakeCall, status: 'RINGING' | 'ACCEPTED' | 'REJECTED'): Json {
    return {
      id: call.wacid,
      type: 'call',
      status,
      timestamp: epochSec(this.now()),
      recipient_id: call.user,
      ...(call.bizOpaque !== undefined ? { biz_opaque_callback_data: call.bizOpaque } : {}),
    };
  }

  /** §3.4 D/E: times only for answered calls; `errors` forces FAILED. */
  private terminateEvent(call: FakeCall, withErrors: boolean): Json {
    const now = this.now();
    const ev: Record<string, unknown> = {
      id: call.wacid,
      from: call.user,
      to: call.number.displayPhoneNumber,
      event: 'terminate',
      timestamp: epochSec(now),
      direction: call.direction,
    };
    if (call.ctaPayload !== undefined) {
      ev.cta_payload = call.ctaPayload;
    }
    if (call.deeplinkPayload !== undefined) {
      ev.deeplink_payload = call.deeplinkPayload;
    }
    if (call.bizOpaque !== undefined) {
      ev.biz_opaque_callback_data = call.bizOpaque;
    }
    if (call.answeredAt === undefined) {
      ev.status = 'FAILED';
      return ev;
    }
    const start = epochSec(call.answeredAt);
    const end = epochSec(now);
    ev.status = withErrors ? 'FAILED' : 'COMPLETED';
    ev.start_time = start;
    ev.end_time = end;
    ev.duration = Number(end) - Number(start);
    return ev;
  }

  private liveCall(wacid: string, direction?: Direction): FakeCall {
    const call = this.calls.get(wacid);
    if (!call) {
      throw new Error(`fake Meta: unknown call ${wacid}`);
    }
    if (direction && call.direction !== direction) {
      throw new Error(`fake Meta: ${wacid} is ${call.direction}, not ${direction}`);
    }
    return call;
  }

  // ── control API: user side ──

  async incomingCall(
    p: {
      phoneNumberId?: string;
      from: string;
      name?: string;
      sdp?: string;
      ctaPayload?: string;
      deeplinkPayload?: string;
      timestamp?: number;
      /** Leave `direction` out of the connect webhook (seen in real payloads); session.sdp_type still says offer. */
      omitDirection?: boolean;
    },
    o?: EmitOptions,
  ): Promise<string> {
    const number = this.numberOf(p.phoneNumberId);
    const from = digitsOnly(p.from);
    if (p.name !== undefined) {
      this.userNames.set(from, p.name);
    }
    const call: FakeCall = {
      wacid: this.newWacid(),
      number,
      direction: 'USER_INITIATED',
      user: from,
      state: 'RINGING',
    };
    if (p.ctaPayload !== undefined) {
      call.ctaPayload = p.ctaPayload;
    }
    if (p.deeplinkPayload !== undefined) {
      call.deeplinkPayload = p.deeplinkPayload;
    }
    // Over the concurrency limit (or calling off / on SIP) the caller is told it failed and no webhook is sent (§6).
    const refused =
      this.liveCalls(number).length >= (this.opts.maxConcurrentCalls ?? 1000) ||
      !this.callingEnabled(number) ||
      this.sipEnabled(number);
    this.calls.set(call.wacid, call);
    if (refused) {
      call.state = 'ENDED';
      return call.wacid;
    }
    this.startRing(call, this.opts.uicRingTimeoutMs ?? 45000);
    // `timestamp` is epoch seconds; ms values are accepted too.
    const ts = p.timestamp === undefined ? this.now() : p.timestamp > 1e11 ? p.timestamp : p.timestamp * 1000;
    const event: Record<string, unknown> = {
      id: call.wacid,
      ...this.userFields(from),
      to: number.displayPhoneNumber,
      event: 'connect',
      timestamp: epochSec(ts),
      ...(p.omitDirection ? {} : { direction: 'USER_INITIATED' }),
    };
    if (call.ctaPayload !== undefined) {
      event.cta_payload = call.ctaPayload;
    }
    if (call.deeplinkPayload !== undefined) {
      event.deeplink_payload = call.deeplinkPayload;
    }
    event.session = { sdp_type: 'offer', sdp: p.sdp ?? CANNED_OFFER_SDP };
    const steps = [this.emitter(number, { ...this.contactsFor(call), calls: [event] }, o)];
    // Callback permission: a user's call grants a temporary permission, reported with context.id = the wacid.
    if (
      this.callingSettings(number).callback_permission_status === 'ENABLED' &&
      this.pair(number.phoneNumberId, from).status !== 'permanent'
    ) {
      this.grantPermission(number.phoneNumberId, from, 'temporary');
      steps.push(this.permissionReplyEmitter(number, from, 'accept', { contextId: call.wacid, o }));
    }
    await this.track(this.runSequence(steps));
    return call.wacid;
  }

  async userAnswers(wacid: string, o?: EmitOptions): Promise<void> {
    const call = this.liveCall(wacid, 'BUSINESS_INITIATED');
    if (call.state !== 'CALLING') {
      throw new Error(`fake Meta: userAnswers on ${wacid} in state ${call.state}`);
    }
    this.clearRing(call);
    call.state = 'ACTIVE';
    call.answeredAt = this.now();
    this.noteConnected(call);
    await this.track(this.emitter(call.number, { statuses: [this.statusEvent(call, 'ACCEPTED')] }, o)());
  }

  async userDeclines(wacid: string, o?: EmitOptions): Promise<void> {
    const call = this.liveCall(wacid, 'BUSINESS_INITIATED');
    if (call.state !== 'CALLING') {
      throw new Error(`fake Meta: userDeclines on ${wacid} in state ${call.state}`);
    }
    // "A terminate always follows REJECTED" (§3.4 C).
    const rejected = this.emitter(call.number, { statuses: [this.statusEvent(call, 'REJECTED')] }, o);
    await this.track(this.runSequence([rejected, this.end(call, o)]));
  }

  async userHangsUp(wacid: string, o?: EmitOptions): Promise<void> {
    const call = this.liveCall(wacid);
    if (call.state === 'ENDED') {
      return; // already over (e.g. a timeout won the race): nothing to send
    }
    await this.track(this.end(call, o)());
  }

  async mediaFailure(wacid: string, code: number, o?: EmitOptions): Promise<void> {
    const call = this.liveCall(wacid);
    if (call.state === 'ENDED') {
      return;
    }
    const [message, details] = MEDIA_FAILURES[code] ?? ['Call failed', 'Media failure'];
    await this.track(this.end(call, o, [{ code, message, href: ERROR_DOCS_URL, error_data: { details } }])());
  }

  async userRepliesToPermission(
    phoneNumberId: string,
    waId: string,
    response: 'accept' | 'reject',
    o: { permanent?: boolean } = {},
  ): Promise<void> {
    const number = this.numberOf(phoneNumberId);
    const user = digitsOnly(waId);
    const pair = this.pair(phoneNumberId, user);
    if (response === 'accept') {
      this.grantPermission(phoneNumberId, user, o.permanent ? 'permanent' : 'temporary');
    } else {
      this.revokePermission(phoneNumberId, user);
    }
    const emit = this.permissionReplyEmitter(number, user, response, {
      permanent: o.permanent,
      contextId: pair.lastRequestWamid,
    });
    await this.track(emit());
  }

  /** §3.4 F: the user's reply to a permission request (or an automatic revoke, which has no context). */
  private permissionReplyEmitter(
    number: FakeMetaNumber,
    waId: string,
    response: 'accept' | 'reject',
    p: { permanent?: boolean; contextId?: string; source?: 'user_action' | 'automatic'; o?: EmitOptions },
  ): () => Promise<void> {
    const pair = this.pair(number.phoneNumberId, waId);
    const reply: Record<string, unknown> = { response, is_permanent: response === 'accept' && !!p.permanent };
    if (response === 'accept' && pair.status === 'temporary' && pair.expiresAt !== undefined) {
      reply.expiration_timestamp = epochSec(pair.expiresAt);
    }
    reply.response_source = p.source ?? 'user_action';
    const message: Record<string, unknown> = {
      ...this.userFields(waId),
      id: this.newWamid(),
      timestamp: epochSec(this.now()),
      type: 'interactive',
    };
    if (p.contextId !== undefined && p.source !== 'automatic') {
      message.context = { from: number.displayPhoneNumber, id: p.contextId };
    }
    message.interactive = { type: 'call_permission_reply', call_permission_reply: reply };
    return this.emitter(number, { contacts: [this.contactOf(waId)], messages: [message] }, p.o, 'messages');
  }

  // ───────────────────────────── webhook emission (§5.4) ─────────────────────────────

  buildWebhook(
    phoneNumberId: string,
    value: { calls?: Json[]; statuses?: Json[]; contacts?: Json[]; errors?: Json[]; messages?: Json[] },
    field: 'calls' | 'messages' = 'calls',
  ): Json {
    const n = this.numberOf(phoneNumberId);
    const v: Record<string, unknown> = {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: n.displayPhoneNumber, phone_number_id: n.phoneNumberId },
    };
    // Key order as in Meta's samples; only the lists given are present.
    for (const key of ['contacts', 'calls', 'statuses', 'messages', 'errors'] as const) {
      if (value[key] !== undefined) {
        v[key] = value[key];
      }
    }
    return { object: 'whatsapp_business_account', entry: [{ id: n.wabaId, changes: [{ field, value: v }] }] };
  }

  /**
   * Meta's `account_settings_update` after a settings change: a WABA-level change with no `metadata`; the number is
   * named inside `phone_number_settings`. `about` names another phone_number_id (one callgate does not hold) while
   * the number's own app secret still signs it.
   */
  async accountSettingsUpdate(phoneNumberId: string, o: EmitOptions & { about?: string } = {}): Promise<void> {
    const n = this.numberOf(phoneNumberId);
    const calling = clone(this.settings.get(n.phoneNumberId)?.calling ?? {});
    const value = {
      timestamp: epochSec(this.now()),
      type: 'phone_number_settings',
      phone_number_settings: { phone_number_id: o.about ?? n.phoneNumberId, calling },
    };
    const payload = {
      object: 'whatsapp_business_account',
      entry: [{ id: n.wabaId, time: epochSec(this.now()), changes: [{ field: 'account_settings_update', value }] }],
    };
    await this.sendWebhook(payload, { ...o, secretOf: n.phoneNumberId });
  }

  async sendWebhook(payload: Json, o: EmitOptions & { secretOf?: string } = {}): Promise<void> {
    const eff = { ...this.emitDefaults, ...o };
    const prepared = transformPayload(payload, eff);
    if (eff.hold) {
      this.held.push({ payload: prepared, o: { ...eff, hold: false } });
      return;
    }
    await this.track(this.deliver(prepared, eff));
  }

  heldCount(): number {
    return this.held.length;
  }

  async releaseHeld(o: { reverse?: boolean; batch?: BatchMode } = {}): Promise<void> {
    const items = this.held;
    this.held = [];
    if (o.reverse) {
      items.reverse();
    }
    if (o.batch && items.length > 0) {
      const merged = mergeWebhooks(
        items.map((h) => h.payload),
        o.batch,
      );
      await this.track(this.deliver(merged, items[0]!.o));
      return;
    }
    for (const h of items) {
      await this.track(this.deliver(h.payload, h.o));
    }
  }

  async flush(): Promise<void> {
    while (this.pending.size > 0) {
      await Promise.all([...this.pending]);
    }
  }

  /** Keep a promise in `pending` until settled; errors become violations (they are fake bugs). */
  private track(p: Promise<void>): Promise<void> {
    const guarded = p.catch((err: unknown) => {
      this.violations.push(`fake Meta internal error while emitting: ${(err as Error).stack ?? String(err)}`);
    });
    this.pending.add(guarded);
    void guarded.finally(() => this.pending.delete(guarded));
    return guarded;
  }

  /** Serialise (escaped), sign, then POST (plus duplicates) with retries. */
  private async deliver(payload: Json, o: EmitOptions & { secretOf?: string }): Promise<void> {
    if (o.delayMs) {
      await this.sleep(o.delayMs);
    }
    const body = escapeNonAscii(JSON.stringify(payload));
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'facebookexternalua' };
    if (!o.noSignature) {
      const secret = this.secretFor(payload, o.secretOf);
      headers['x-hub-signature-256'] = signMetaBody(body, o.badSignature ? `${secret}-wrong` : secret);
    }
    for (let copy = 0; copy <= (o.duplicate ?? 0); copy++) {
      await this.postWithRetries(body, headers, copy === 0 ? (o.dropFirstAttempts ?? 0) : 0);
    }
  }

  private secretFor(payload: Json, secretOf?: string): string {
    const pnid = secretOf ?? changeValues(payload)[0]?.metadata?.phone_number_id;
    return (this.numbers.get(pnid) ?? this.opts.numbers[0]!).appSecret;
  }

  /** One delivery: attempts on the schedule until a 2xx; every attempt is logged. */
  private async postWithRetries(body: string, headers: Record<string, string>, drop: number): Promise<void> {
    const schedule = this.opts.webhookRetryScheduleMs ?? DEFAULT_RETRY_SCHEDULE_MS;
    for (let attempt = 0; attempt < schedule.length; attempt++) {
      await this.sleep(schedule[attempt]!);
      if (this.closed) {
        return;
      }
      const url = this.webhookUrl;
      if (!url) {
        this.webhookAttempts.push({
          body,
          status: null,
          error: 'no webhookUrl configured',
          latencyMs: 0,
          at: this.now(),
        });
        return;
      }
      if (attempt < drop) {
        this.webhookAttempts.push({ body, status: null, error: 'dropped (injected)', latencyMs: 0, at: this.now() });
        continue;
      }
      if (await this.postOnce(url, body, headers)) {
        return;
      }
    }
  }

  private async postOnce(url: string, body: string, headers: Record<string, string>): Promise<boolean> {
    const at = this.now();
    const started = performance.now();
    const timeout = AbortSignal.timeout(this.opts.webhookTimeoutMs ?? 20000);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body: Buffer.from(body, 'utf8'),
        signal: AbortSignal.any([timeout, this.closing.signal]),
      });
      await res.arrayBuffer().catch(() => undefined); // drain so the connection is reusable
      this.webhookAttempts.push({ body, status: res.status, latencyMs: performance.now() - started, at });
      return res.ok;
    } catch (err) {
      if (this.closed) {
        return true;
      }
      const error = timeout.aborted ? 'timeout' : String((err as Error).cause ?? (err as Error).message ?? err);
      this.webhookAttempts.push({ body, status: null, error, latencyMs: performance.now() - started, at });
      return false;
    }
  }

  /** Delay that ends early on close(), so nothing outlives the fake. */
  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const signal = this.closing.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.closing.abort();
    for (const call of this.calls.values()) {
      this.clearRing(call);
    }
    this.held = [];
    const server = this.server;
    if (!server) {
      return;
    }
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // hung requests must not keep the server open
    });
    await Promise.all([...this.pending]);
  }
}

/** Start the fake on 127.0.0.1 with an ephemeral port; `baseUrl` is ready when this resolves. */
export async function startFakeMeta(opts: FakeMetaOptions): Promise<FakeMeta> {
  if (opts.numbers.length === 0) {
    throw new Error('fake Meta needs at least one number');
  }
  const fake = new FakeMetaServer(opts);
  await fake.listen();
  return fake;
}
