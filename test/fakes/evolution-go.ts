/**
 * Fake Evolution Go server, calls surface (docs: docs/spec/providers-evolution-go.md; checklist §5).
 *
 * A real HTTP server on 127.0.0.1:<ephemeral> speaking the wire format of §2 (stock `/call/reject` plus the calls
 * extension) and POSTing Evolution Go webhooks (§3: exact envelope, Go field names, no signature, only
 * `Content-Type: application/json`) to each instance's webhook URL. Start it with `startFakeEvolution(opts)`.
 *
 * ── Instances ──
 *   opts.instances: [{ id, name, token, ownNumber, connected?, rejectCall?, msgRejectCall?, webhookUrl?, subscribe?,
 *                      extension?: 'on'|'off'|'disabled', emit? }]      (defaults: connected, subscribe ['CALL'], extension 'on')
 *   `apikey: <token>` selects the instance; an unknown token → 401 {"error":"not authorized"}.
 *   extension 'off'      → extension routes do not exist: 404 text/plain `404 page not found` (gin default);
 *   routes (with 'on')  → only these add-on routes exist (EXTENSION_ROUTE_SETS: the subsets real add-ons ship);
 *                          the others answer gin's 404 like 'off'.
 *   extension 'disabled' → GET /call/active = {"enabled":false,"state":"blocked_by_proxy","calls":[]}, actions 409
 *                          `calls are not active for this instance…`; no extension webhooks.
 *
 * ── Routes (adapter side) ──
 *   stock:     POST /call/reject · POST /instance/connect · GET /instance/status · DELETE /instance/logout
 *              · GET|PUT /instance/:instanceId/advanced-settings
 *   extension: GET /call/active · GET /call/:callId · POST /call/dial|answer|hangup|play|stream-ticket
 *              · GET /call/stream/:callId?ticket=… (WebSocket upgrade; the ticket is the credential)
 *
 * ── Control (tests) — methods, mirrored as POST /__fake/<kebab-name> with a JSON body ──
 *   incomingCall({instanceId?, from, lid?, creatorIsLid?, phoneHidden?, device?, video?, group?}, o?) → CallID  (CallOffer + CallRelayLatency,
 *       or CallOfferNotice for a group; rejectCall:true → no CallOffer, auto-reject, msgRejectCall recorded in sentMessages)
 *   phoneAnswers(callId, {acceptedElsewhere?, callAccept?}) · phoneRejects(callId) · peerHangsUp(callId)
 *   peerAccepts(callId, {callAccept?}) · peerDeclines(callId, {callReject?})          (outbound calls placed with /call/dial)
 *   disconnect(instanceId, message?) · reconnect(instanceId)      (500 with the stock texts; tracked calls end `instance_stopped`;
 *       disconnect also posts Disconnected to CONNECTION subscribers)
 *   pair(instanceId, ownNumber) · logout(instanceId, reason?) · reconnected(instanceId)   (methods only: the CONNECTION
 *       events PairSuccess + Connected, LoggedOut, Connected; DELETE /instance/logout unlinks the device silently)
 *   setExtension(id, mode) · setWebhook(id, url, subscribe?) · setRejectCall(id, on, msg?) · setEmitDefaults(o)
 *   emitRaw(instanceId, event, data, o?)                           (any envelope, for parser edge cases)
 *   advance(ms) · now()                                             (injectable clock; due timers fire on advance)
 *   inject(rule) · clearInjections()                                (failure injection, see InjectRule)
 *   releaseHeld({reverse?}) · heldCount()                           (webhooks kept with EmitOptions.hold)
 *   flush()  — waits for every pending webhook delivery (retries included) and post-response emission
 *   reset()  — back to the seeded state (POST /__fake/reset) ·  close()
 *
 * ── Inspection ──
 *   requests (GET /__fake/requests): method, path, route, instanceId, headers (apikey value redacted), body, status, response
 *   countRequests({method?, path?, callId?, instanceId?, status?}) · deliveries (GET /__fake/deliveries): envelope, attempts
 *   with our response codes, state · violations: protocol misuse seen (e.g. reject with a callCreator that is not the
 *   offer's verbatim JID, dial with `+`) · call(callId)/calls() (GET /__fake/calls) · instance(id) · streams(callId)
 *
 * Ordering: webhooks caused by an API request are sent after its HTTP response is written; first attempts leave in
 * emission order per instance (delay/jitter/hold reorder them on purpose); retries run on their own, like the real
 * sender's goroutines. Ids (CallID: 32 uppercase hex) and tickets come from the seed.
 */

import { createHash } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Json } from '../helpers/json.ts';
import { qrDataUrl } from './qr-png.ts';

// ───────────────────────────── public types ─────────────────────────────

export type ExtensionMode = 'on' | 'off' | 'disabled';

/** The calls add-on's routes, by the fake's route names. */
export type ExtensionRoute = 'active' | 'info' | 'dial' | 'answer' | 'hangup' | 'play' | 'stream-ticket' | 'stream';

/**
 * Route subsets real calls add-ons ship (each read from the repository's pkg/routes/routes.go): a route outside the
 * subset answers gin's 404, the others work.
 */
export const EXTENSION_ROUTE_SETS = {
  full: ['active', 'info', 'dial', 'answer', 'hangup', 'play', 'stream-ticket', 'stream'],
  /** lucasgiovannibr/evolution-go: /call/active, /call/:callId, dial, answer, hangup, stream-ticket; no /call/play. */
  'lucasgiovannibr/evolution-go': ['active', 'info', 'dial', 'answer', 'hangup', 'stream-ticket', 'stream'],
  /** goippro-main/evolution-go-calls: dial, answer, hangup only (no /call/active, so no probe). */
  'goippro-main/evolution-go-calls': ['dial', 'answer', 'hangup'],
} as const satisfies Record<string, readonly ExtensionRoute[]>;
export type CallPhase = 'calling' | 'ringing' | 'connecting' | 'active' | 'ended' | 'other';

export interface FakeEvoInstanceConfig {
  id: string;
  name: string;
  token: string;
  /** Digits, no `+`. */
  ownNumber: string;
  connected?: boolean;
  rejectCall?: boolean;
  msgRejectCall?: string;
  webhookUrl?: string;
  /** Default ['CALL']; [] means MESSAGE only (no call events), like the real server. */
  subscribe?: string[];
  extension?: ExtensionMode;
  /** With extension 'on': the add-on routes served (default: all of them); see EXTENSION_ROUTE_SETS. */
  routes?: readonly ExtensionRoute[];
  /** Emission knobs for every webhook of this instance (overridden per call). */
  emit?: EmitOptions;
}

export interface FakeEvolutionOptions {
  instances: FakeEvoInstanceConfig[];
  /** The server's GLOBAL_API_KEY (admin routes: POST /instance/create); default 'global-key'. */
  globalApiKey?: string;
  /** Seed for CallIDs, tickets, LIDs, jitter; default 'seed'. */
  seed?: string;
  /** ms epoch clock, default Date.now; `advance(ms)` adds an offset on top of it. */
  now?: () => number;
  /** Offset written in `Timestamp` (RFC 3339); default '-03:00'. 'Z' allowed. */
  timestampOffset?: string;
  /** Delivery attempts per webhook (real: 5) and the pause between them (real: 30000 ms; tests: a few ms). */
  webhookMaxAttempts?: number;
  webhookRetryIntervalMs?: number;
  /** The real sender has no timeout; the fake gives up an attempt after this long (default 30000). */
  webhookTimeoutMs?: number;
  /** WhatsApp's ring window for incoming calls → CallTerminate{timeout}; default 45000. */
  whatsappRingTimeoutMs?: number;
  /** The extension's own ring timeout → CallEnded{ring_timeout}; default 90000. */
  serverRingTimeoutMs?: number;
  /** connecting → active (CallReady); default 200. */
  connectDelayMs?: number;
  /** CallTerminate Reason sent after our reject ends a ringing call: default 'rejected_elsewhere'; '' or null (no CallTerminate). */
  rejectReason?: string | null;
  /** CallRelayLatency events after each CallOffer; default 1. */
  relayLatencyEvents?: number;
  maxConcurrentCalls?: number; // default 4 (F-why)
  maxDialsPerMinute?: number; // default 6 (F-why)
  ticketTtlSeconds?: number; // default 30
  maxOpenTickets?: number; // default 8 → 429
  /** Media frame period; default 60 (960 samples at 16 kHz = 1920 bytes). */
  mediaFrameMs?: number;
  emitDefaults?: EmitOptions;
}

export interface EmitOptions {
  delayMs?: number;
  /** Extra random delay in [0, jitterMs), seeded. */
  jitterMs?: number;
  /** Send the same envelope n more times (each copy retried on its own). */
  duplicate?: number;
  /** Probability in [0,1] of one extra copy (seeded). */
  duplicateProbability?: number;
  /** Lose the webhook entirely (logged as dropped). */
  drop?: boolean;
  /** Keep it until releaseHeld(). */
  hold?: boolean;
  /** Behave like a stock server for webhooks: no extension events (CallReady, CallEnded, CallReject). */
  stockOnly?: boolean;
}

export interface InjectRule {
  /** Route path without query, e.g. '/call/hangup' (exact); omitted = any adapter route. */
  path?: string;
  method?: string;
  instanceId?: string;
  /** Matches body.callId or the :callId path segment. */
  callId?: string;
  /** How many matching requests it applies to; default 1, Infinity = sticky. */
  times?: number;
  latencyMs?: number;
  /** Never answer (the adapter's timeout fires). */
  hang?: boolean;
  /** Destroy the connection without a reply (network error). */
  reset?: boolean;
  /** Reply with this status and `body` (JSON), or `{"error": error}`, or `text` (text/plain). */
  status?: number;
  body?: unknown;
  error?: string;
  text?: string;
  headers?: Record<string, string>;
  /** Run the real handler (state changes, webhooks), then send the injected reply instead of its own (or reset). */
  applyEffect?: boolean;
  /** Reply 200 {"message":"success"} and do nothing (whatsmeow#1182 "reject ignored"). */
  ignore?: boolean;
}

export interface RecordedRequest {
  method: string;
  /** As sent, query included. */
  path: string;
  /** Matched route pattern, or null (unmatched → gin 404). */
  route: string | null;
  instanceId: string | null;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
  body: Json;
  /** 0 while unanswered, and for hung / reset requests. */
  status: number;
  response: Json;
  injected?: string;
  at: number;
}

export interface DeliveryAttempt {
  status: number | null;
  error?: string;
  latencyMs: number;
  at: number;
}

export interface Delivery {
  id: number;
  instanceId: string;
  event: string;
  callId: string | null;
  envelope: Record<string, unknown>;
  body: string;
  attempts: DeliveryAttempt[];
  state: 'pending' | 'delivered' | 'failed' | 'dropped' | 'held' | 'suppressed';
  /** Why it was suppressed (no webhook URL, not subscribed, instance disconnected). */
  reason?: string;
  /** 0 for the original, 1.. for duplicates. */
  copy: number;
}

export interface AdvancedSettings {
  alwaysOnline: boolean;
  rejectCall: boolean;
  msgRejectCall: string;
  readMessages: boolean;
  ignoreGroups: boolean;
  ignoreStatus: boolean;
}

export interface FakeEvoInstanceView {
  id: string;
  name: string;
  ownNumber: string;
  connected: boolean;
  extension: ExtensionMode;
  webhookUrl: string | null;
  subscribe: string[];
  settings: AdvancedSettings;
  sentMessages: { to: string; text: string; at: number }[];
}

export interface FakeEvoCall {
  callId: string;
  instanceId: string;
  direction: 'incoming' | 'outgoing';
  phase: CallPhase;
  peer: string;
  peerLid: string | null;
  callCreator: string;
  callCreatorAlt: string;
  video: boolean;
  group: string | null;
  /** The extension tracks it (extension 'on' when it started): CallEnded is emitted exactly once. */
  tracked: boolean;
  startedAt: number;
  connectedAt: number | null;
  endedAt: number | null;
  endReason: string | null;
  plays: { mediaUrl: string; queued: boolean; at: number }[];
  /** /call/reject requests that reached this call, and those that had no effect. */
  rejects: number;
  ignoredRejects: number;
}

export interface FakeEvoStream {
  callId: string;
  mode: 'talk' | 'listen';
  binary: boolean;
  open: boolean;
  framesSent: number;
  framesReceived: number;
  framesDropped: number;
  bytesReceived: number;
  closeCode: number | null;
}

export interface IncomingCallParams {
  instanceId?: string;
  /** Caller's phone digits. */
  from: string;
  /** Caller's LID digits; default derived from the seed; false = none (CallCreatorAlt ""). */
  lid?: string | false;
  /** CallCreator is the `@lid` identity (CallCreatorAlt the phone JID). */
  creatorIsLid?: boolean;
  /**
   * The caller hides its phone number: WhatsApp shows only its LID (CallCreator `@lid`, CallCreatorAlt "", From the
   * LID). The phone digits in `from` stay inside the fake.
   */
  phoneHidden?: boolean;
  /** Device part of the caller's JID; default 3 (0 = none). */
  device?: number;
  video?: boolean;
  /** Group call → CallOfferNotice only (out of scope for the service). */
  group?: boolean;
}

export interface FakeEvolution {
  baseUrl: string;
  requests: RecordedRequest[];
  /** Instances made through POST /instance/create, by id. */
  created: string[];
  deleted: string[];
  /** The user scanned the instance's QR (or entered its pairing code) with the phone `ownNumber`. */
  completePairing(instanceId: string, ownNumber: string): void;
  /** completePairing, then the CONNECTION events a real server posts for it: PairSuccess, then Connected. */
  pair(instanceId: string, ownNumber: string, o?: EmitOptions): Promise<void>;
  /** The phone removed the linked device: not paired, not connected; posts LoggedOut (CONNECTION). */
  logout(instanceId: string, reason?: string, o?: EmitOptions): Promise<void>;
  /** An instance's stored webhook, subscription and advanced settings (what /instance/connect and create set). */
  instanceSetup(instanceId: string): { webhookUrl: string | null; subscribe: string[]; rejectCall: boolean };
  deliveries: Delivery[];
  violations: string[];
  countRequests(filter?: {
    method?: string;
    path?: string;
    callId?: string;
    instanceId?: string;
    status?: number;
  }): number;
  inject(rule: InjectRule): void;
  clearInjections(): void;
  instance(id: string): FakeEvoInstanceView;
  call(callId: string): FakeEvoCall | undefined;
  calls(): FakeEvoCall[];
  streams(callId?: string): FakeEvoStream[];
  setExtension(instanceId: string, mode: ExtensionMode): void;
  setWebhook(instanceId: string, url: string | null, subscribe?: string[]): void;
  setRejectCall(instanceId: string, on: boolean, msg?: string): void;
  setEmitDefaults(o: EmitOptions): void;
  incomingCall(p: IncomingCallParams, o?: EmitOptions): Promise<string>;
  phoneAnswers(
    callId: string,
    p?: { acceptedElsewhere?: boolean; callAccept?: boolean },
    o?: EmitOptions,
  ): Promise<void>;
  phoneRejects(callId: string, o?: EmitOptions): Promise<void>;
  peerHangsUp(callId: string, o?: EmitOptions): Promise<void>;
  peerAccepts(callId: string, p?: { callAccept?: boolean }, o?: EmitOptions): Promise<void>;
  peerDeclines(callId: string, p?: { callReject?: boolean }, o?: EmitOptions): Promise<void>;
  disconnect(instanceId: string, message?: string): Promise<void>;
  reconnect(instanceId: string): void;
  /** reconnect, then the Connected event (CONNECTION) a real server posts for it. */
  reconnected(instanceId: string, o?: EmitOptions): Promise<void>;
  emitRaw(
    instanceId: string,
    event: string,
    data: unknown,
    o?: EmitOptions & { envelope?: Record<string, unknown> },
  ): Promise<void>;
  releaseHeld(o?: { reverse?: boolean }): Promise<void>;
  heldCount(): number;
  now(): number;
  advance(ms: number): void;
  flush(): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

// ───────────────────────────── constants & helpers ─────────────────────────────

/** §2.1: the texts of an instance that is not connected. */
export const NOT_CONNECTED_MESSAGES = [
  'client disconnected',
  'no active session found',
  'websocket not connected',
  "the store doesn't contain a device JID",
] as const;
export const GIN_404 = '404 page not found';
const NOT_ACTIVE = 'calls are not active for this instance (state: blocked_by_proxy)';
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const SAMPLE_RATE = 16000;
const FRAME_BYTES = 1920;
/** The events `subscribe: ["CONNECTION"]` brings (stock names); sent whether or not the socket is up. */
const CONNECTION_EVENTS = new Set([
  'Connected',
  'PairSuccess',
  'TemporaryBan',
  'LoggedOut',
  'ConnectFailure',
  'Disconnected',
]);
const EXTENSION_EVENTS = new Set([
  'CallReady',
  'CallEnded',
  'CallReject',
  'CallVideoState',
  'CallMediaStalled',
  'CallMediaResumed',
]);

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** mulberry32 seeded from sha256(seed). */
function seededRandom(seed: string): () => number {
  let a = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** RFC 3339 in a fixed offset, whole seconds (whatsmeow stamps from the stanza's unix `t`). */
export function formatEvolutionTimestamp(ms: number, offset: string): string {
  const whole = Math.floor(ms / 1000) * 1000;
  if (offset === 'Z') {
    return `${new Date(whole).toISOString().slice(0, 19)}Z`;
  }
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  if (!m) {
    throw new Error(`fake Evolution: bad timestampOffset ${offset}`);
  }
  const minutes = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  return new Date(whole + minutes * 60_000).toISOString().slice(0, 19) + offset;
}

function jid(user: string, device = 0, server = 's.whatsapp.net'): string {
  return device ? `${user}:${device}@${server}` : `${user}@${server}`;
}

/** JID without its device / agent part: what WhatsApp compares. */
function bareJid(j: string): string {
  const at = j.indexOf('@');
  if (at === -1) {
    return j;
  }
  return `${j.slice(0, at).split(':')[0]!.split('.')[0]!}@${j.slice(at + 1)}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function isHttpUrl(s: unknown): boolean {
  if (typeof s !== 'string') {
    return false;
  }
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

// ───────────────────────────── internal state ─────────────────────────────

interface Inst {
  id: string;
  name: string;
  token: string;
  ownNumber: string;
  connected: boolean;
  /** Paired with a phone (QR scanned or pairing code entered); a created instance is not until then. */
  loggedIn: boolean;
  disconnectMessage: string;
  settings: AdvancedSettings;
  webhookUrl: string | null;
  subscribe: string[];
  extension: ExtensionMode;
  routes: readonly ExtensionRoute[];
  /** How many QR codes were handed out. */
  qrServed?: number;
  emit: EmitOptions;
  dialTimes: number[];
  sentMessages: { to: string; text: string; at: number }[];
  /** First delivery attempts leave in order, per instance. */
  chain: Promise<void>;
}

interface Timer {
  at: number;
  fn: () => void;
  handle: NodeJS.Timeout | undefined;
  done: boolean;
}

interface FakeCallState {
  callId: string;
  inst: Inst;
  direction: 'incoming' | 'outgoing';
  phase: CallPhase;
  peer: string;
  peerLid: string | null;
  peerDevice: number;
  /** The caller shows only its LID: every JID naming it is the `@lid` one. */
  phoneHidden: boolean;
  creator: string;
  creatorAlt: string;
  video: boolean;
  group: string | null;
  tracked: boolean;
  startedAt: number;
  connectedAt: number | null;
  endedAt: number | null;
  endReason: string | null;
  endedEmitted: boolean;
  plays: { mediaUrl: string; queued: boolean; at: number }[];
  rejects: number;
  ignoredRejects: number;
  timers: Timer[];
  streams: Set<MediaStream>;
}

interface Ticket {
  ticket: string;
  inst: Inst;
  callId: string;
  mode: 'talk' | 'listen';
  binary: boolean;
  expiresAt: number;
  spent: boolean;
}

interface Emission {
  inst: Inst;
  event: string;
  data: unknown;
  callId: string | null;
  envelope?: Record<string, unknown>;
}

interface Reply {
  status: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
  /** Webhooks caused by this request, sent after the response is written. */
  after?: Emission[];
}

interface Held {
  emission: Emission;
  o: EmitOptions;
}

interface Route {
  name: string;
  pattern: string;
  params: Record<string, string>;
  extension: boolean;
}

const json = (status: number, body: unknown, after?: Emission[]): Reply => ({
  status,
  json: body,
  ...(after ? { after } : {}),
});
const err = (status: number, message: string): Reply => json(status, { error: message });
const GIN_NOT_FOUND: Reply = { status: 404, text: GIN_404 };
const BAD_JSON = Symbol('bad JSON');

function matchRoute(method: string, path: string): Route | null {
  const r = (name: string, pattern: string, extension: boolean, params: Record<string, string> = {}): Route => ({
    name,
    pattern,
    params,
    extension,
  });
  if (method === 'POST' && path === '/call/reject') {
    return r('reject', '/call/reject', false);
  }
  if (method === 'POST' && path === '/instance/connect') {
    return r('connect', '/instance/connect', false);
  }
  if (method === 'GET' && path === '/instance/status') {
    return r('status', '/instance/status', false);
  }
  if (method === 'POST' && path === '/instance/create') {
    return r('create', '/instance/create', false);
  }
  const del = /^\/instance\/delete\/([^/]+)$/.exec(path);
  if (del && method === 'DELETE') {
    return r('deleteInstance', '/instance/delete/:instanceId', false, { instanceId: decodeURIComponent(del[1]!) });
  }
  if (method === 'DELETE' && path === '/instance/logout') {
    return r('logout', '/instance/logout', false);
  }
  if (method === 'GET' && path === '/instance/qr') {
    return r('qr', '/instance/qr', false);
  }
  if (method === 'POST' && path === '/instance/pair') {
    return r('pair', '/instance/pair', false);
  }
  const adv = /^\/instance\/([^/]+)\/advanced-settings$/.exec(path);
  if (adv && (method === 'GET' || method === 'PUT')) {
    return r(method === 'GET' ? 'getSettings' : 'putSettings', '/instance/:instanceId/advanced-settings', false, {
      instanceId: decodeURIComponent(adv[1]!),
    });
  }
  if (method === 'POST') {
    const action = /^\/call\/(dial|answer|hangup|play|stream-ticket)$/.exec(path);
    if (action) {
      return r(action[1]!, path, true);
    }
  }
  if (method === 'GET') {
    if (path === '/call/active') {
      return r('active', '/call/active', true); // matched before /call/:callId
    }
    const stream = /^\/call\/stream\/([^/]+)$/.exec(path);
    if (stream) {
      return r('stream', '/call/stream/:callId', true, { callId: decodeURIComponent(stream[1]!) });
    }
    const info = /^\/call\/([^/]+)$/.exec(path);
    if (info) {
      return r('info', '/call/:callId', true, { callId: decodeURIComponent(info[1]!) });
    }
  }
  return null;
}

// ───────────────────────────── WebSocket media stream (minimal RFC 6455) ─────────────────────────────

function wsFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (len < 126) {
    head[1] = len;
  } else if (len < 65536) {
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

class MediaStream {
  readonly info: FakeEvoStream;
  readonly #socket: Duplex;
  readonly #call: FakeCallState;
  #buf: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  #fragmentOp = 0;
  #timer: NodeJS.Timeout | undefined;
  #phase = 0;
  #closing = false;

  constructor(socket: Duplex, call: FakeCallState, ticket: Ticket, frameMs: number) {
    this.#socket = socket;
    this.#call = call;
    this.info = {
      callId: call.callId,
      mode: ticket.mode,
      binary: ticket.binary,
      open: true,
      framesSent: 0,
      framesReceived: 0,
      framesDropped: 0,
      bytesReceived: 0,
      closeCode: null,
    };
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => this.#gone());
    socket.on('error', () => this.#gone());
    if (!ticket.binary) {
      this.#sendText({ event: 'start', callId: call.callId, sampleRate: SAMPLE_RATE });
    }
    this.#timer = setInterval(() => this.#tick(), frameMs);
  }

  /** One 60 ms frame of the peer's audio: a 440 Hz tone while active, silence before. */
  #tick(): void {
    const frame = Buffer.alloc(FRAME_BYTES);
    if (this.#call.phase === 'active') {
      for (let i = 0; i < FRAME_BYTES / 2; i++) {
        frame.writeInt16LE(Math.round(3000 * Math.sin((2 * Math.PI * 440 * this.#phase++) / SAMPLE_RATE)), i * 2);
      }
    }
    if (this.info.binary) {
      this.#write(wsFrame(2, frame));
    } else {
      this.#sendText({ event: 'media', track: 'inbound', payload: frame.toString('base64') });
    }
    this.info.framesSent++;
  }

  #sendText(obj: unknown): void {
    this.#write(wsFrame(1, Buffer.from(JSON.stringify(obj))));
  }

  #write(b: Buffer): void {
    if (!this.#socket.destroyed && this.#socket.writable) {
      this.#socket.write(b);
    }
  }

  #onData(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    while (this.#buf.length >= 2) {
      const b0 = this.#buf[0]!;
      const b1 = this.#buf[1]!;
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.#buf.length < 4) {
          return;
        }
        len = this.#buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.#buf.length < 10) {
          return;
        }
        len = Number(this.#buf.readBigUInt64BE(2));
        off = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      if (!masked) {
        this.close(1002, 'client frames must be masked');
        return;
      }
      if (this.#buf.length < off + 4 + len) {
        return;
      }
      const mask = this.#buf.subarray(off, off + 4);
      const payload = Buffer.from(this.#buf.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < payload.length; i++) {
        payload[i] = payload[i]! ^ mask[i % 4]!;
      }
      this.#buf = this.#buf.subarray(off + 4 + len);
      this.#onFrame((b0 & 0x80) !== 0, b0 & 0x0f, payload);
      if (this.#closing) {
        return;
      }
    }
  }

  #onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode === 0x8) {
      this.info.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.close(this.info.closeCode === 1005 ? 1000 : this.info.closeCode, '');
      return;
    }
    if (opcode === 0x9) {
      this.#write(wsFrame(0xa, payload));
      return;
    }
    if (opcode === 0xa) {
      return;
    }
    if (opcode === 0x0) {
      this.#fragments.push(payload);
      if (!fin) {
        return;
      }
      const whole = Buffer.concat(this.#fragments);
      this.#fragments = [];
      this.#onMessage(this.#fragmentOp, whole);
      return;
    }
    if (!fin) {
      this.#fragmentOp = opcode;
      this.#fragments = [payload];
      return;
    }
    this.#onMessage(opcode, payload);
  }

  #onMessage(opcode: number, payload: Buffer): void {
    let audio: Buffer;
    if (this.info.binary) {
      if (opcode !== 2) {
        this.close(1003, 'binary frames expected');
        return;
      }
      audio = payload;
    } else {
      let msg: Json;
      try {
        msg = JSON.parse(payload.toString('utf8'));
      } catch {
        this.close(1007, 'invalid JSON frame');
        return;
      }
      if (!isObject(msg) || msg.event !== 'media') {
        return; // start/stop/mark from clients are ignored
      }
      audio = Buffer.from(String(msg.payload ?? ''), 'base64');
    }
    if (audio.length !== FRAME_BYTES) {
      this.close(1007, `frames must be ${FRAME_BYTES} bytes`);
      return;
    }
    this.info.framesReceived++;
    this.info.bytesReceived += audio.length;
    if (this.info.mode === 'listen') {
      this.info.framesDropped++; // listen: the server discards client audio
    }
  }

  /** The call ended: JSON mode says stop first, then both modes close normally. */
  end(reason: string): void {
    if (!this.info.binary) {
      this.#sendText({ event: 'stop', reason });
    }
    this.close(1000, 'call ended');
  }

  close(code: number, reason: string): void {
    if (this.#closing) {
      return;
    }
    this.#closing = true;
    clearInterval(this.#timer);
    if (this.info.closeCode === null) {
      this.info.closeCode = code;
    }
    const body = Buffer.alloc(2 + Buffer.byteLength(reason));
    body.writeUInt16BE(code, 0);
    body.write(reason, 2);
    this.#write(wsFrame(0x8, body));
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), 200).unref();
    this.#gone();
  }

  #gone(): void {
    clearInterval(this.#timer);
    this.info.open = false;
    this.#call.streams.delete(this);
  }

  destroy(): void {
    clearInterval(this.#timer);
    this.info.open = false;
    this.#socket.destroy();
  }
}

// ───────────────────────────── the fake ─────────────────────────────

class FakeEvolutionServer implements FakeEvolution {
  baseUrl = '';
  requests: RecordedRequest[] = [];
  /** Instances made through POST /instance/create, by id. */
  created: string[] = [];
  /** Instances removed through DELETE /instance/delete/:instanceId, in order. */
  deleted: string[] = [];
  deliveries: Delivery[] = [];
  violations: string[] = [];

  readonly #opts: FakeEvolutionOptions;
  readonly #baseClock: () => number;
  #clockOffset = 0;
  #instances = new Map<string, Inst>();
  #calls = new Map<string, FakeCallState>();
  #tickets = new Map<string, Ticket>();
  #allStreams: MediaStream[] = [];
  #timers: Timer[] = [];
  #injections: { rule: InjectRule; left: number }[] = [];
  #held: Held[] = [];
  #pending = new Set<Promise<void>>();
  #emitDefaults: EmitOptions;
  #random: () => number = () => 0;
  #counters: Record<string, number> = {};
  #deliverySeq = 0;
  #closing = new AbortController();
  #closed = false;
  #server: Server | undefined;

  constructor(opts: FakeEvolutionOptions) {
    this.#opts = opts;
    this.#baseClock = opts.now ?? Date.now;
    this.#emitDefaults = { ...opts.emitDefaults };
    this.#seedState();
  }

  #seedState(): void {
    this.#instances.clear();
    for (const c of this.#opts.instances) {
      this.#instances.set(c.id, {
        id: c.id,
        name: c.name,
        token: c.token,
        ownNumber: c.ownNumber.replace(/\D/g, ''),
        connected: c.connected ?? true,
        loggedIn: c.connected ?? true,
        disconnectMessage: NOT_CONNECTED_MESSAGES[0],
        settings: {
          alwaysOnline: false,
          rejectCall: c.rejectCall ?? false,
          msgRejectCall: c.msgRejectCall ?? '',
          readMessages: false,
          ignoreGroups: false,
          ignoreStatus: false,
        },
        webhookUrl: c.webhookUrl ?? null,
        subscribe: [...(c.subscribe ?? ['CALL'])],
        extension: c.extension ?? 'on',
        routes: c.routes ?? EXTENSION_ROUTE_SETS.full,
        emit: { ...c.emit },
        dialTimes: [],
        sentMessages: [],
        chain: Promise.resolve(),
      });
    }
    this.#random = seededRandom(this.#opts.seed ?? 'seed');
    this.#counters = {};
  }

  async listen(): Promise<void> {
    const server = createServer((req, res) => void this.#handle(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  // ── clock, ids, timers ──

  now(): number {
    return this.#baseClock() + this.#clockOffset;
  }

  advance(ms: number): void {
    this.#clockOffset += ms;
    for (;;) {
      const due = this.#timers.filter((t) => !t.done && t.at <= this.now()).sort((a, b) => a.at - b.at)[0];
      if (!due) {
        break;
      }
      this.#fire(due);
    }
  }

  #schedule(delayMs: number, fn: () => void): Timer {
    const t: Timer = { at: this.now() + delayMs, fn, handle: undefined, done: false };
    t.handle = setTimeout(() => this.#fire(t), Math.max(0, delayMs));
    this.#timers.push(t);
    return t;
  }

  #fire(t: Timer): void {
    if (t.done || this.#closed) {
      return;
    }
    t.done = true;
    clearTimeout(t.handle);
    this.#timers = this.#timers.filter((x) => x !== t);
    t.fn();
  }

  #cancel(t: Timer): void {
    t.done = true;
    clearTimeout(t.handle);
    this.#timers = this.#timers.filter((x) => x !== t);
  }

  #hash(kind: string): Buffer {
    const n = (this.#counters[kind] ?? 0) + 1;
    this.#counters[kind] = n;
    return createHash('sha256')
      .update(`${this.#opts.seed ?? 'seed'}:${kind}:${n}`)
      .digest();
  }

  #newCallId(): string {
    return this.#hash('call').toString('hex').slice(0, 32).toUpperCase();
  }

  #newTicket(): string {
    return this.#hash('ticket').subarray(0, 24).toString('base64url');
  }

  /** A stable 15-digit LID for a phone number. */
  #lidFor(number: string): string {
    const h = createHash('sha256')
      .update(`${this.#opts.seed ?? 'seed'}:lid:${number}`)
      .digest();
    return `1${(h.readBigUInt64BE(0) % 10n ** 14n).toString().padStart(14, '0')}`;
  }

  #timestamp(): string {
    return formatEvolutionTimestamp(this.now(), this.#opts.timestampOffset ?? '-03:00');
  }

  // ── configuration & inspection ──

  #inst(id?: string): Inst {
    const inst = id === undefined ? this.#instances.values().next().value : this.#instances.get(id);
    if (!inst) {
      throw new Error(`fake Evolution: unknown instance ${id}`);
    }
    return inst;
  }

  #liveCall(callId: string): FakeCallState {
    const c = this.#calls.get(callId);
    if (!c) {
      throw new Error(`fake Evolution: unknown call ${callId}`);
    }
    return c;
  }

  instance(id: string): FakeEvoInstanceView {
    const i = this.#inst(id);
    return structuredClone({
      id: i.id,
      name: i.name,
      ownNumber: i.ownNumber,
      connected: i.connected,
      extension: i.extension,
      webhookUrl: i.webhookUrl,
      subscribe: i.subscribe,
      settings: i.settings,
      sentMessages: i.sentMessages,
    });
  }

  #view(c: FakeCallState): FakeEvoCall {
    return structuredClone({
      callId: c.callId,
      instanceId: c.inst.id,
      direction: c.direction,
      phase: c.phase,
      peer: c.peer,
      peerLid: c.peerLid,
      callCreator: c.creator,
      callCreatorAlt: c.creatorAlt,
      video: c.video,
      group: c.group,
      tracked: c.tracked,
      startedAt: c.startedAt,
      connectedAt: c.connectedAt,
      endedAt: c.endedAt,
      endReason: c.endReason,
      plays: c.plays,
      rejects: c.rejects,
      ignoredRejects: c.ignoredRejects,
    });
  }

  call(callId: string): FakeEvoCall | undefined {
    const c = this.#calls.get(callId);
    return c ? this.#view(c) : undefined;
  }

  calls(): FakeEvoCall[] {
    return [...this.#calls.values()].map((c) => this.#view(c));
  }

  streams(callId?: string): FakeEvoStream[] {
    return this.#allStreams.filter((s) => callId === undefined || s.info.callId === callId).map((s) => ({ ...s.info }));
  }

  setExtension(instanceId: string, mode: ExtensionMode): void {
    this.#inst(instanceId).extension = mode;
  }

  setWebhook(instanceId: string, url: string | null, subscribe?: string[]): void {
    const i = this.#inst(instanceId);
    i.webhookUrl = url;
    if (subscribe) {
      i.subscribe = [...subscribe];
    }
  }

  setRejectCall(instanceId: string, on: boolean, msg?: string): void {
    const i = this.#inst(instanceId);
    i.settings.rejectCall = on;
    if (msg !== undefined) {
      i.settings.msgRejectCall = msg;
    }
  }

  setEmitDefaults(o: EmitOptions): void {
    this.#emitDefaults = { ...o };
  }

  inject(rule: InjectRule): void {
    this.#injections.push({ rule, left: rule.times ?? 1 });
  }

  clearInjections(): void {
    this.#injections.length = 0;
  }

  countRequests(
    filter: { method?: string; path?: string; callId?: string; instanceId?: string; status?: number } = {},
  ): number {
    return this.requests.filter((r) => {
      if (filter.method !== undefined && r.method !== filter.method.toUpperCase()) {
        return false;
      }
      if (filter.path !== undefined && r.path.split('?')[0] !== filter.path) {
        return false;
      }
      if (filter.instanceId !== undefined && r.instanceId !== filter.instanceId) {
        return false;
      }
      if (filter.status !== undefined && r.status !== filter.status) {
        return false;
      }
      if (filter.callId !== undefined) {
        const id = isObject(r.body) ? r.body.callId : undefined;
        if (id !== filter.callId && !r.path.split('?')[0]!.endsWith(`/${filter.callId}`)) {
          return false;
        }
      }
      return true;
    }).length;
  }

  heldCount(): number {
    return this.#held.length;
  }

  // ── call model: JIDs and event data (§3) ──

  #peerJid(c: FakeCallState): string {
    return c.phoneHidden && c.peerLid ? jid(c.peerLid, c.peerDevice, 'lid') : jid(c.peer, c.peerDevice);
  }

  #ownJid(inst: Inst): string {
    return jid(inst.ownNumber);
  }

  #stanza(tag: string, c: FakeCallState, attrs: Record<string, string>, content: unknown): Record<string, unknown> {
    return { Tag: tag, Attrs: { 'call-id': c.callId, 'call-creator': c.creator, ...attrs }, Content: content };
  }

  #base(c: FakeCallState, from: string): Record<string, unknown> {
    return {
      From: from,
      Timestamp: this.#timestamp(),
      CallCreator: c.creator,
      CallCreatorAlt: c.creatorAlt,
      CallID: c.callId,
      GroupJID: c.group ?? '',
    };
  }

  #stock(c: FakeCallState, event: string, data: Record<string, unknown>): Emission {
    return { inst: c.inst, event, data, callId: c.callId };
  }

  #offer(c: FakeCallState): Emission {
    const content: unknown[] = [
      { Tag: 'audio', Attrs: { enc: 'opus', rate: '16000' }, Content: null },
      { Tag: 'audio', Attrs: { enc: 'opus', rate: '8000' }, Content: null },
    ];
    if (c.video) {
      content.push({
        Tag: 'video',
        Attrs: { enc: 'vp8', dec: 'vp8', orientation: '0', screen_width: '1080', screen_height: '2400' },
        Content: null,
      });
    }
    content.push({ Tag: 'net', Attrs: { medium: '3' }, Content: null });
    return this.#stock(c, 'CallOffer', {
      ...this.#base(c, this.#peerJid(c)),
      RemotePlatform: 'android',
      RemoteVersion: '2.26.7.71',
      Data: this.#stanza('offer', c, {}, content),
    });
  }

  #relayLatency(c: FakeCallState): Emission {
    return this.#stock(c, 'CallRelayLatency', {
      ...this.#base(c, this.#peerJid(c)),
      Data: this.#stanza('relaylatency', c, {}, [{ Tag: 'te', Attrs: { latency: '33554473' }, Content: 'nNX6Hw0D' }]),
    });
  }

  #accept(c: FakeCallState, from: string, platform: string, version: string): Emission {
    return this.#stock(c, 'CallAccept', {
      ...this.#base(c, from),
      RemotePlatform: platform,
      RemoteVersion: version,
      Data: this.#stanza('accept', c, {}, null),
    });
  }

  #terminate(c: FakeCallState, from: string, reason: string): Emission {
    return this.#stock(c, 'CallTerminate', {
      ...this.#base(c, from),
      Reason: reason,
      Data: this.#stanza('terminate', c, reason ? { reason } : {}, null),
    });
  }

  #offerNotice(c: FakeCallState): Emission {
    return this.#stock(c, 'CallOfferNotice', {
      From: jid(c.peer),
      Timestamp: this.#timestamp(),
      CallCreator: jid(c.peer),
      CallCreatorAlt: '',
      CallID: c.callId,
      GroupJID: c.group ?? '',
      Media: c.video ? 'video' : 'audio',
      Type: 'group',
      Data: {
        Tag: 'offer_notice',
        Attrs: { 'call-id': c.callId, media: c.video ? 'video' : 'audio', type: 'group' },
        Content: null,
      },
    });
  }

  #extInfo(c: FakeCallState): Record<string, unknown> {
    return { callId: c.callId, peer: jid(c.peer), direction: c.direction, video: c.video };
  }

  /** CallInfo [F-why] as the extension's routes return it. */
  #callInfo(c: FakeCallState): Record<string, unknown> {
    return {
      callId: c.callId,
      peer: jid(c.peer),
      direction: c.direction,
      phase: c.phase,
      video: c.video,
      startedAt: new Date(c.startedAt).toISOString(),
      videoSending: false,
      videoReceiving: false,
      mediaStalled: false,
    };
  }

  // ── call model: transitions (each answers the webhooks it causes, in order) ──

  #newCall(
    inst: Inst,
    p: {
      direction: 'incoming' | 'outgoing';
      peer: string;
      peerLid: string | null;
      device: number;
      creatorIsLid: boolean;
      phoneHidden?: boolean;
      video: boolean;
      group: string | null;
    },
  ): FakeCallState {
    const callId = this.#newCallId();
    let creator: string;
    let creatorAlt: string;
    if (p.direction === 'outgoing') {
      creator = this.#ownJid(inst);
      creatorAlt = jid(this.#lidFor(inst.ownNumber), 0, 'lid');
    } else if (p.phoneHidden && p.peerLid) {
      creator = jid(p.peerLid, p.device, 'lid');
      creatorAlt = '';
    } else if (p.creatorIsLid && p.peerLid) {
      creator = jid(p.peerLid, p.device, 'lid');
      creatorAlt = jid(p.peer);
    } else {
      creator = jid(p.peer, p.device);
      creatorAlt = p.peerLid ? jid(p.peerLid, 0, 'lid') : '';
    }
    const c: FakeCallState = {
      callId,
      inst,
      direction: p.direction,
      phase: p.direction === 'incoming' ? 'ringing' : 'calling',
      peer: p.peer,
      peerLid: p.peerLid,
      peerDevice: p.device,
      phoneHidden: !!p.phoneHidden && p.peerLid !== null,
      creator,
      creatorAlt,
      video: p.video,
      group: p.group,
      tracked: inst.extension === 'on' && !p.group,
      startedAt: this.now(),
      connectedAt: null,
      endedAt: null,
      endReason: null,
      endedEmitted: false,
      plays: [],
      rejects: 0,
      ignoredRejects: 0,
      timers: [],
      streams: new Set(),
    };
    this.#calls.set(callId, c);
    return c;
  }

  #liveTracked(inst: Inst): FakeCallState[] {
    return [...this.#calls.values()].filter((c) => c.inst === inst && c.tracked && c.phase !== 'ended');
  }

  /** Ends a call once: stock CallTerminate (when given), then the extension's CallEnded for tracked calls. */
  #end(
    c: FakeCallState,
    p: { terminate?: { from: string; reason: string }; ended: string; stopReason?: string },
  ): Emission[] {
    if (c.phase === 'ended') {
      return [];
    }
    c.phase = 'ended';
    c.endedAt = this.now();
    c.endReason = p.ended;
    for (const t of c.timers) {
      this.#cancel(t);
    }
    c.timers = [];
    for (const s of [...c.streams]) {
      s.end(p.stopReason ?? 'hangup');
    }
    for (const [k, t] of this.#tickets) {
      if (t.callId === c.callId) {
        this.#tickets.delete(k);
      }
    }
    const out: Emission[] = [];
    if (p.terminate) {
      out.push(this.#terminate(c, p.terminate.from, p.terminate.reason));
    }
    if (c.tracked && !c.endedEmitted) {
      c.endedEmitted = true;
      out.push({
        inst: c.inst,
        event: 'CallEnded',
        callId: c.callId,
        data: {
          ...this.#extInfo(c),
          reason: p.ended,
          durationSeconds: Math.max(0, Math.floor((this.now() - c.startedAt) / 1000)),
        },
      });
    }
    return out;
  }

  /** Our reject (stock reject, hangup of a ringing incoming call, rejectCall:true, busy) ends a ringing call. */
  #rejectRinging(c: FakeCallState, ended: string): Emission[] {
    const reason = this.#opts.rejectReason === undefined ? 'rejected_elsewhere' : this.#opts.rejectReason;
    return this.#end(c, { ended, ...(reason === null ? {} : { terminate: { from: this.#ownJid(c.inst), reason } }) });
  }

  #startConnecting(c: FakeCallState): void {
    c.phase = 'connecting';
    const t = this.#schedule(this.#opts.connectDelayMs ?? 200, () => {
      if (c.phase !== 'connecting') {
        return;
      }
      c.phase = 'active';
      c.connectedAt = this.now();
      for (const p of c.plays) {
        p.queued = false;
      }
      void this.#dispatch(
        c.tracked ? [{ inst: c.inst, event: 'CallReady', data: this.#extInfo(c), callId: c.callId }] : [],
      );
    });
    c.timers.push(t);
  }

  #armRingTimers(c: FakeCallState): void {
    if (c.direction === 'incoming') {
      c.timers.push(
        this.#schedule(this.#opts.whatsappRingTimeoutMs ?? 45_000, () => {
          if (c.phase === 'ringing') {
            void this.#dispatch(
              this.#end(c, { terminate: { from: this.#peerJid(c), reason: 'timeout' }, ended: 'ring_timeout' }),
            );
          }
        }),
      );
    }
    if (c.tracked) {
      c.timers.push(
        this.#schedule(this.#opts.serverRingTimeoutMs ?? 90_000, () => {
          if (c.phase === 'ringing' || c.phase === 'calling') {
            void this.#dispatch(this.#end(c, { ended: 'ring_timeout' }));
          }
        }),
      );
    }
  }

  // ── control API ──

  async incomingCall(p: IncomingCallParams, o: EmitOptions = {}): Promise<string> {
    const inst = this.#inst(p.instanceId);
    const peer = p.from.replace(/\D/g, '');
    const peerLid = p.lid === false ? null : (p.lid ?? this.#lidFor(peer));
    const c = this.#newCall(inst, {
      direction: 'incoming',
      peer,
      peerLid,
      device: p.device ?? 3,
      creatorIsLid: !!p.creatorIsLid,
      phoneHidden: !!p.phoneHidden,
      video: !!p.video,
      group: p.group ? '120363041234567890@g.us' : null,
    });
    if (c.group) {
      c.phase = 'ended';
      c.endReason = 'group';
      await this.#dispatch([this.#offerNotice(c)], o);
      return c.callId;
    }
    const out: Emission[] = [];
    if (inst.settings.rejectCall) {
      // The server declines by itself and suppresses CallOffer; later events still come.
      if (inst.settings.msgRejectCall) {
        inst.sentMessages.push({ to: jid(peer), text: inst.settings.msgRejectCall, at: this.now() });
      }
      out.push(...this.#rejectRinging(c, 'rejected'));
    } else {
      out.push(this.#offer(c));
      for (let i = 0; i < (this.#opts.relayLatencyEvents ?? 1); i++) {
        out.push(this.#relayLatency(c));
      }
      if (c.tracked && this.#liveTracked(inst).length > (this.#opts.maxConcurrentCalls ?? 4)) {
        out.push(...this.#rejectRinging(c, 'rejected_busy'));
      } else {
        this.#armRingTimers(c);
      }
    }
    await this.#dispatch(out, o);
    return c.callId;
  }

  async phoneAnswers(
    callId: string,
    p: { acceptedElsewhere?: boolean; callAccept?: boolean } = {},
    o: EmitOptions = {},
  ): Promise<void> {
    const c = this.#liveCall(callId);
    if (c.direction !== 'incoming' || c.phase !== 'ringing') {
      throw new Error(`fake Evolution: phoneAnswers on a ${c.direction} ${c.phase} call`);
    }
    for (const t of c.timers) {
      this.#cancel(t);
    }
    c.timers = [];
    c.phase = 'other'; // answered on another device: the server's engine is not in the call
    c.connectedAt = this.now();
    // callAccept:false: only the accepted_elsewhere terminate arrives (whatsmeow may send either or both).
    const out = p.callAccept === false ? [] : [this.#accept(c, this.#ownJid(c.inst), 'iphone', '2.26.8.4')];
    if (p.acceptedElsewhere) {
      out.push(this.#terminate(c, this.#ownJid(c.inst), 'accepted_elsewhere'));
    }
    await this.#dispatch(out, o);
  }

  async phoneRejects(callId: string, o: EmitOptions = {}): Promise<void> {
    const c = this.#liveCall(callId);
    if (c.phase !== 'ringing') {
      throw new Error(`fake Evolution: phoneRejects on a ${c.phase} call`);
    }
    await this.#dispatch(
      this.#end(c, { terminate: { from: this.#ownJid(c.inst), reason: 'rejected_elsewhere' }, ended: 'rejected' }),
      o,
    );
  }

  async peerHangsUp(callId: string, o: EmitOptions = {}): Promise<void> {
    const c = this.#liveCall(callId);
    await this.#dispatch(this.#end(c, { terminate: { from: this.#peerJid(c), reason: '' }, ended: 'peer_hangup' }), o);
  }

  async peerAccepts(callId: string, p: { callAccept?: boolean } = {}, o: EmitOptions = {}): Promise<void> {
    const c = this.#liveCall(callId);
    if (c.direction !== 'outgoing' || c.phase !== 'calling') {
      throw new Error(`fake Evolution: peerAccepts on a ${c.direction} ${c.phase} call`);
    }
    for (const t of c.timers) {
      this.#cancel(t);
    }
    c.timers = [];
    this.#startConnecting(c);
    await this.#dispatch(p.callAccept === false ? [] : [this.#accept(c, this.#peerJid(c), 'android', '2.26.7.71')], o);
  }

  async peerDeclines(callId: string, p: { callReject?: boolean } = {}, o: EmitOptions = {}): Promise<void> {
    const c = this.#liveCall(callId);
    if (c.direction !== 'outgoing' || c.phase !== 'calling') {
      throw new Error(`fake Evolution: peerDeclines on a ${c.direction} ${c.phase} call`);
    }
    const out: Emission[] = [];
    if (p.callReject) {
      out.push({
        inst: c.inst,
        event: 'CallReject',
        callId: c.callId,
        data: { ...this.#base(c, this.#peerJid(c)), Data: this.#stanza('reject', c, {}, null) },
      });
    }
    out.push(...this.#end(c, { ended: 'rejected' }));
    await this.#dispatch(out, o);
  }

  async disconnect(instanceId: string, message: string = NOT_CONNECTED_MESSAGES[0]): Promise<void> {
    const inst = this.#inst(instanceId);
    inst.connected = false;
    inst.disconnectMessage = message;
    const out: Emission[] = [];
    for (const c of this.#liveTracked(inst)) {
      out.push(...this.#end(c, { ended: 'instance_stopped', stopReason: 'instance_stopped' }));
    }
    // events.Disconnected has no fields: its data is {} (CONNECTION subscribers only).
    out.push({ inst, event: 'Disconnected', callId: null, data: {} });
    await this.#dispatch(out);
  }

  reconnect(instanceId: string): void {
    this.#inst(instanceId).connected = true;
  }

  async reconnected(instanceId: string, o: EmitOptions = {}): Promise<void> {
    this.reconnect(instanceId);
    await this.#dispatch([this.#connected(this.#inst(instanceId))], o);
  }

  async pair(instanceId: string, ownNumber: string, o: EmitOptions = {}): Promise<void> {
    this.completePairing(instanceId, ownNumber);
    const inst = this.#inst(instanceId);
    const ownJid = `${inst.ownNumber}:12@s.whatsapp.net`;
    // events.PairSuccess (Go names) plus what the server adds: status, jid, pushName.
    const data = {
      ID: ownJid,
      LID: '',
      BusinessName: '',
      Platform: 'android',
      status: 'open',
      jid: ownJid,
      pushName: 'Loja',
    };
    await this.#dispatch([{ inst, event: 'PairSuccess', callId: null, data }], o);
    await this.#dispatch([this.#connected(inst)], o);
  }

  async logout(instanceId: string, reason = 'logged out from another device', o: EmitOptions = {}): Promise<void> {
    const inst = this.#inst(instanceId);
    inst.loggedIn = false;
    inst.connected = false;
    // events.LoggedOut {OnConnect, Reason (a number)} plus the server's `reason` text.
    await this.#dispatch(
      [{ inst, event: 'LoggedOut', callId: null, data: { OnConnect: false, Reason: 401, reason } }],
      o,
    );
  }

  /** events.Connected has no fields: the server adds status, jid (with the device part) and pushName. */
  #connected(inst: Inst): Emission {
    const data = { status: 'open', jid: `${inst.ownNumber}:12@s.whatsapp.net`, pushName: 'Loja' };
    return { inst, event: 'Connected', callId: null, data };
  }

  async emitRaw(
    instanceId: string,
    event: string,
    data: unknown,
    o: EmitOptions & { envelope?: Record<string, unknown> } = {},
  ): Promise<void> {
    const { envelope, ...rest } = o;
    const callId = isObject(data) ? (data.CallID ?? data.callId ?? null) : null;
    await this.#dispatch(
      [
        {
          inst: this.#inst(instanceId),
          event,
          data,
          callId: typeof callId === 'string' ? callId : null,
          ...(envelope ? { envelope } : {}),
        },
      ],
      rest,
    );
  }

  // ── webhook emission (§3, §5) ──

  /** Emits in order; resolves when every delivery (retries included) is settled. */
  #dispatch(list: Emission[], o: EmitOptions = {}): Promise<void> {
    return Promise.all(list.map((e) => this.#emit(e, o))).then(() => undefined);
  }

  #emit(e: Emission, o: EmitOptions): Promise<void> {
    const eff: EmitOptions = { ...this.#emitDefaults, ...e.inst.emit, ...o };
    const extensionEvent = EXTENSION_EVENTS.has(e.event);
    if (extensionEvent && (eff.stockOnly || e.inst.extension !== 'on')) {
      return Promise.resolve();
    }
    if (eff.hold) {
      this.#held.push({ emission: e, o: { ...eff, hold: false } });
      return Promise.resolve();
    }
    const envelope = e.envelope ?? {
      event: e.event,
      data: e.data,
      instanceToken: e.inst.token,
      instanceId: e.inst.id,
      instanceName: e.inst.name,
    };
    const body = JSON.stringify(envelope);
    let reason: string | undefined;
    if (!e.inst.webhookUrl) {
      reason = 'no webhook URL';
    } else if (e.event.startsWith('Call') && !e.inst.subscribe.some((s) => s === 'CALL' || s === 'ALL')) {
      reason = 'CALL not subscribed';
    } else if (CONNECTION_EVENTS.has(e.event) && !e.inst.subscribe.some((s) => s === 'CONNECTION' || s === 'ALL')) {
      reason = 'CONNECTION not subscribed';
    } else if (!extensionEvent && !CONNECTION_EVENTS.has(e.event) && !e.inst.connected) {
      reason = 'instance disconnected (no WhatsApp events)';
    }
    let copies = 1 + (eff.duplicate ?? 0);
    if (eff.duplicateProbability && this.#random() < eff.duplicateProbability) {
      copies++;
    }
    const runs: Promise<void>[] = [];
    for (let copy = 0; copy < copies; copy++) {
      const d: Delivery = {
        id: ++this.#deliverySeq,
        instanceId: e.inst.id,
        event: e.event,
        callId: e.callId,
        envelope: structuredClone(envelope),
        body,
        attempts: [],
        state: 'pending',
        copy,
      };
      this.deliveries.push(d);
      if (reason) {
        d.state = 'suppressed';
        d.reason = reason;
        if (copy === 0) {
          break;
        }
        continue;
      }
      if (eff.drop) {
        d.state = 'dropped';
        continue;
      }
      runs.push(this.#track(this.#deliver(d, e.inst, e.inst.webhookUrl!, eff)));
    }
    return Promise.all(runs).then(() => undefined);
  }

  async releaseHeld(o: { reverse?: boolean } = {}): Promise<void> {
    const items = this.#held;
    this.#held = [];
    if (o.reverse) {
      items.reverse();
    }
    await Promise.all(items.map((h) => this.#emit(h.emission, h.o)));
  }

  async #deliver(d: Delivery, inst: Inst, url: string, o: EmitOptions): Promise<void> {
    const delay = (o.delayMs ?? 0) + (o.jitterMs ? Math.floor(this.#random() * o.jitterMs) : 0);
    if (delay > 0) {
      await this.#sleep(delay);
    }
    // First attempts leave in emission order (per instance); retries are on their own.
    const first = inst.chain.then(() => this.#attempt(d, url));
    inst.chain = first.then(
      () => undefined,
      () => undefined,
    );
    let ok = await first;
    const max = this.#opts.webhookMaxAttempts ?? 5;
    for (let n = 1; !ok && n < max && !this.#closed; n++) {
      await this.#sleep(this.#opts.webhookRetryIntervalMs ?? 30_000);
      if (this.#closed) {
        break;
      }
      ok = await this.#attempt(d, url);
    }
    d.state = ok ? 'delivered' : 'failed';
  }

  /** One POST with only Content-Type (and what HTTP itself needs), like Go's http.Post. */
  #attempt(d: Delivery, url: string): Promise<boolean> {
    const at = this.now();
    const started = performance.now();
    return new Promise<boolean>((resolve) => {
      if (this.#closed) {
        return resolve(true);
      }
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        d.attempts.push({ status: null, error: 'invalid webhook URL', latencyMs: 0, at });
        return resolve(false);
      }
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const payload = Buffer.from(d.body, 'utf8');
      const req = send(
        target,
        {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': String(payload.length),
            'User-Agent': 'Go-http-client/1.1',
          },
          timeout: this.#opts.webhookTimeoutMs ?? 30_000,
          signal: this.#closing.signal,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            d.attempts.push({ status, latencyMs: performance.now() - started, at });
            resolve(status >= 200 && status < 300);
          });
          res.on('error', () => resolve(false));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (error) => {
        if (this.#closed) {
          return resolve(true);
        }
        d.attempts.push({ status: null, error: error.message, latencyMs: performance.now() - started, at });
        resolve(false);
      });
      req.end(payload);
    });
  }

  /** Keep a promise in `pending` until settled; errors become violations (fake bugs). */
  #track(p: Promise<void>): Promise<void> {
    const guarded = p.catch((error: unknown) => {
      this.violations.push(`fake Evolution internal error: ${(error as Error).stack ?? String(error)}`);
    });
    this.#pending.add(guarded);
    void guarded.finally(() => this.#pending.delete(guarded));
    return guarded;
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.#closed) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const signal = this.#closing.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async flush(): Promise<void> {
    while (this.#pending.size > 0) {
      await Promise.all([...this.#pending]);
    }
  }

  // ── HTTP ──

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    try {
      raw = await readBody(req);
    } catch {
      return;
    }
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = (req.method ?? 'GET').toUpperCase();
    if (url.pathname.startsWith('/__fake/')) {
      return this.#control(method, url.pathname.slice('/__fake/'.length), raw, res);
    }

    let body: Json;
    let bodyError = false;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        bodyError = true;
      }
    }
    const route = matchRoute(method, url.pathname);
    const apikey = typeof req.headers.apikey === 'string' ? req.headers.apikey : undefined;
    const inst = apikey === undefined ? undefined : [...this.#instances.values()].find((i) => i.token === apikey);
    const headers = { ...req.headers };
    if (headers.apikey !== undefined) {
      headers.apikey = '[redacted]';
    }
    const entry: RecordedRequest = {
      method,
      path: req.url ?? '/',
      route: route?.pattern ?? null,
      instanceId: inst?.id ?? null,
      headers,
      rawBody: raw,
      body,
      status: 0,
      response: undefined,
      at: this.now(),
    };
    this.requests.push(entry);
    if (method === 'POST' && !String(req.headers['content-type'] ?? '').includes('application/json')) {
      this.violations.push(`${method} ${url.pathname} without Content-Type: application/json`);
    }

    const callId = isObject(body) && typeof body.callId === 'string' ? body.callId : route?.params.callId;
    const rule = this.#takeInjection(method, url.pathname, inst?.id ?? null, callId);
    if (rule) {
      entry.injected = JSON.stringify(rule);
    }
    if (rule?.latencyMs) {
      await this.#sleep(rule.latencyMs);
    }
    if (this.#closed) {
      return;
    }
    if (rule?.hang) {
      return; // close() ends it
    }
    if (rule?.reset && !rule.applyEffect) {
      req.socket.destroy();
      return;
    }

    let reply: Reply;
    if (rule?.ignore) {
      reply = json(200, { message: 'success' });
    } else if (rule && !rule.applyEffect && (rule.status !== undefined || rule.text !== undefined)) {
      reply = this.#injectedReply(rule);
    } else {
      reply = this.#route(route, inst, bodyError ? BAD_JSON : body, url, apikey);
      if (rule?.applyEffect && (rule.status !== undefined || rule.text !== undefined)) {
        reply = { ...this.#injectedReply(rule), ...(reply.after ? { after: reply.after } : {}) };
      }
    }
    if (rule?.reset) {
      // applyEffect + reset: the server acted, and the connection broke before the answer left.
      req.socket.destroy();
    } else {
      this.#write(res, reply, entry);
    }
    if (reply.after?.length) {
      void this.#track(this.#dispatch(reply.after));
    }
  }

  #injectedReply(rule: InjectRule): Reply {
    const status = rule.status ?? 200;
    const base: Reply =
      rule.text !== undefined
        ? { status, text: rule.text }
        : { status, json: rule.body !== undefined ? rule.body : { error: rule.error ?? 'injected failure' } };
    return rule.headers ? { ...base, headers: rule.headers } : base;
  }

  #takeInjection(
    method: string,
    path: string,
    instanceId: string | null,
    callId: string | undefined,
  ): InjectRule | undefined {
    for (const slot of this.#injections) {
      const r = slot.rule;
      if (slot.left <= 0) {
        continue;
      }
      if (r.path !== undefined && r.path !== path) {
        continue;
      }
      if (r.method !== undefined && r.method.toUpperCase() !== method) {
        continue;
      }
      if (r.instanceId !== undefined && r.instanceId !== instanceId) {
        continue;
      }
      if (r.callId !== undefined && r.callId !== callId) {
        continue;
      }
      slot.left--;
      return r;
    }
    return undefined;
  }

  #write(res: ServerResponse, reply: Reply, entry: RecordedRequest): void {
    entry.status = reply.status;
    entry.response = reply.text ?? reply.json;
    if (reply.text !== undefined) {
      res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
      res.end(reply.text);
    } else {
      res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
      res.end(JSON.stringify(reply.json ?? null));
    }
  }

  #route(route: Route | null, inst: Inst | undefined, body: Json, url: URL, apikey?: string): Reply {
    if (!route) {
      return GIN_NOT_FOUND;
    }
    if (route.name === 'create') {
      // Admin route: the global key, never an instance token (pkg/middleware AuthAdmin).
      if (apikey === undefined || apikey !== (this.#opts.globalApiKey ?? 'global-key')) {
        return err(401, 'not authorized');
      }
      return body === BAD_JSON ? err(400, 'invalid character in JSON body') : this.#createInstance(body);
    }
    if (route.name === 'deleteInstance') {
      if (apikey === undefined || apikey !== (this.#opts.globalApiKey ?? 'global-key')) {
        return err(401, 'not authorized');
      }
      const gone = this.#instances.get(route.params.instanceId ?? '');
      if (!gone) {
        return err(400, 'instance not found');
      }
      this.#instances.delete(gone.id);
      this.deleted.push(gone.id);
      return json(200, { message: 'success' });
    }
    // A route the server does not have answers gin's 404 before any auth middleware.
    const allOff = [...this.#instances.values()].every((i) => i.extension === 'off');
    if (route.extension && (inst ? inst.extension === 'off' : allOff)) {
      return GIN_NOT_FOUND;
    }
    // An add-on that ships only some routes: the others do not exist on this server.
    if (route.extension && inst && !inst.routes.includes(route.name as ExtensionRoute)) {
      return GIN_NOT_FOUND;
    }
    if (route.name === 'stream') {
      return err(400, 'websocket upgrade required');
    }
    if (!inst) {
      return err(401, 'not authorized');
    }
    if (body === BAD_JSON) {
      return err(400, 'invalid character in JSON body'); // gin binds after the auth middleware
    }
    if (route.extension && inst.extension === 'disabled') {
      if (route.name === 'active') {
        return json(200, { enabled: false, state: 'blocked_by_proxy', calls: [] });
      }
      return err(409, NOT_ACTIVE);
    }
    switch (route.name) {
      case 'reject':
        return this.#stockReject(inst, body);
      case 'connect':
        return this.#instanceConnect(inst, body);
      case 'logout':
        // The device is unlinked from the phone; the instance stays, waiting for a new QR.
        if (!inst.loggedIn) {
          return err(500, 'no active session found');
        }
        inst.loggedIn = false;
        inst.connected = false;
        return json(200, { message: 'success' });
      case 'status':
        // StatusStruct has no json tags: encoding/json writes the Go field names (myJid is unexported: absent).
        return json(200, {
          message: 'success',
          data: { Connected: inst.connected, LoggedIn: inst.loggedIn, Name: inst.name },
        });
      case 'qr':
        return this.#qr(inst);
      case 'pair':
        return this.#pair(inst, body);
      case 'getSettings':
        if (route.params.instanceId !== inst.id) {
          return err(401, 'not authorized');
        }
        return json(200, { message: 'success', settings: { ...inst.settings } });
      case 'putSettings':
        return this.#putSettings(inst, route.params.instanceId!, body);
      case 'active':
        return json(200, {
          enabled: true,
          state: 'active',
          calls: this.#liveTracked(inst).map((c) => this.#callInfo(c)),
        });
      case 'info': {
        const c = this.#calls.get(route.params.callId!);
        if (!c || c.inst !== inst || !c.tracked || c.phase === 'ended') {
          return err(404, 'call not found');
        }
        return json(200, this.#callInfo(c));
      }
      case 'dial':
        return this.#dial(inst, body);
      case 'answer':
        return this.#answer(inst, body);
      case 'hangup':
        return this.#hangup(inst, body);
      case 'play':
        return this.#play(inst, body);
      case 'stream-ticket':
        return this.#streamTicket(inst, body, url);
      default:
        return GIN_NOT_FOUND;
    }
  }

  #notConnected(inst: Inst): Reply | null {
    return inst.connected ? null : err(500, inst.disconnectMessage);
  }

  /** Stock: 200 for any callId when connected; only a verbatim creator JID reaches WhatsApp. */
  #stockReject(inst: Inst, body: Json): Reply {
    if (!isObject(body)) {
      return err(400, 'invalid request body');
    }
    if (typeof body.callCreator !== 'string' || body.callCreator === '') {
      return err(400, 'callCreator is required');
    }
    if (typeof body.callId !== 'string' || body.callId === '') {
      return err(400, 'callId is required');
    }
    const down = this.#notConnected(inst);
    if (down) {
      return down;
    }
    const ok = json(200, { message: 'success' });
    if (!body.callCreator.includes('@')) {
      this.violations.push(
        `/call/reject with callCreator "${body.callCreator}" (not a JID): accepted and silently ineffective`,
      );
    }
    const c = this.#calls.get(body.callId);
    if (!c || c.inst !== inst) {
      return ok;
    }
    c.rejects++;
    const sameCreator = bareJid(body.callCreator) === bareJid(c.creator);
    if (!sameCreator) {
      c.ignoredRejects++;
      this.violations.push(
        `/call/reject for ${c.callId} with callCreator "${body.callCreator}", not the offer's "${c.creator}": WhatsApp ignores it`,
      );
      return ok;
    }
    if (c.direction !== 'incoming' || c.phase !== 'ringing') {
      c.ignoredRejects++;
      return ok;
    }
    return { ...ok, after: this.#rejectRinging(c, 'rejected') };
  }

  /** POST /instance/create {name, token, advancedSettings?}: a new instance, not paired, not connected. */
  #createInstance(body: Json): Reply {
    if (!isObject(body)) {
      return err(400, 'invalid request body');
    }
    if (typeof body.name !== 'string' || body.name === '') {
      return err(400, 'name is required');
    }
    if (typeof body.token !== 'string' || body.token === '') {
      return err(400, 'token is required');
    }
    if ([...this.#instances.values()].some((i) => i.token === body.token || i.name === body.name)) {
      return err(500, 'instance already exists');
    }
    const adv = isObject(body.advancedSettings) ? body.advancedSettings : {};
    const id = `${createHash('sha256').update(`${body.name}:${body.token}`).digest('hex').slice(0, 8)}-0000-4000-8000-${String(
      this.#instances.size,
    ).padStart(12, '0')}`;
    const inst: Inst = {
      id,
      name: body.name,
      token: body.token,
      ownNumber: '',
      connected: false,
      loggedIn: false,
      disconnectMessage: NOT_CONNECTED_MESSAGES[0],
      settings: {
        alwaysOnline: adv.alwaysOnline === true,
        rejectCall: adv.rejectCall === true,
        msgRejectCall: typeof adv.msgRejectCall === 'string' ? adv.msgRejectCall : '',
        readMessages: adv.readMessages === true,
        ignoreGroups: adv.ignoreGroups === true,
        ignoreStatus: adv.ignoreStatus === true,
      },
      webhookUrl: null,
      // A new instance subscribes to nothing: MESSAGE only, no call events, until /instance/connect says otherwise.
      subscribe: [],
      extension: 'on',
      routes: EXTENSION_ROUTE_SETS.full,
      emit: {},
      dialTimes: [],
      sentMessages: [],
      chain: Promise.resolve(),
    };
    this.#instances.set(id, inst);
    this.created.push(id);
    return json(200, {
      message: 'success',
      data: { id, name: inst.name, token: inst.token, connected: false, advancedSettings: { ...inst.settings } },
    });
  }

  /** GET /instance/qr: QrcodeStruct {qrcode: data-URL PNG, code: the raw pairing string}; none once paired. */
  #qr(inst: Inst): Reply {
    if (inst.loggedIn) {
      return err(400, 'session already logged in');
    }
    inst.qrServed = (inst.qrServed ?? 0) + 1;
    const code = `2@${createHash('sha256').update(`${inst.id}:${inst.qrServed}`).digest('base64').slice(0, 40)}`;
    return json(200, {
      message: 'success',
      data: { qrcode: qrDataUrl(code), code },
    });
  }

  /** POST /instance/pair {phone}: PairReturnStruct has no json tags, so the field is `PairingCode`. */
  #pair(inst: Inst, body: Json): Reply {
    const phone = isObject(body) && typeof body.phone === 'string' ? body.phone : '';
    if (phone === '') {
      return err(400, 'phone is required');
    }
    if (inst.loggedIn) {
      return err(500, 'session already logged in');
    }
    const digits = createHash('sha256').update(`${inst.id}:${phone}`).digest('hex').toUpperCase();
    return json(200, { message: 'success', data: { PairingCode: `${digits.slice(0, 4)}-${digits.slice(4, 8)}` } });
  }

  instanceSetup(instanceId: string): { webhookUrl: string | null; subscribe: string[]; rejectCall: boolean } {
    const inst = this.#inst(instanceId);
    return { webhookUrl: inst.webhookUrl, subscribe: [...inst.subscribe], rejectCall: inst.settings.rejectCall };
  }

  /** Control: the user scanned the QR (or typed the pairing code) with the phone `ownNumber`. */
  completePairing(instanceId: string, ownNumber: string): void {
    const inst = this.#inst(instanceId);
    inst.ownNumber = ownNumber.replace(/\D/g, '');
    inst.loggedIn = true;
    inst.connected = true;
  }

  #instanceConnect(inst: Inst, body: Json): Reply {
    const b = isObject(body) ? body : {};
    if (typeof b.webhookUrl === 'string') {
      inst.webhookUrl = b.webhookUrl || null;
    }
    if (Array.isArray(b.subscribe)) {
      inst.subscribe = b.subscribe
        .filter((s: unknown): s is string => typeof s === 'string')
        .map((s: string) => s.toUpperCase());
    }
    const eventString = inst.subscribe.length ? inst.subscribe.join(',') : 'MESSAGE';
    return json(200, {
      message: 'success',
      data: { jid: this.#ownJid(inst), webhookUrl: inst.webhookUrl ?? '', eventString },
    });
  }

  /** PUT replaces the whole object: missing fields become zero values (§1). */
  #putSettings(inst: Inst, instanceId: string, body: Json): Reply {
    if (instanceId !== inst.id) {
      return err(401, 'not authorized');
    }
    if (!isObject(body)) {
      return err(400, 'invalid request body');
    }
    inst.settings = {
      alwaysOnline: body.alwaysOnline === true,
      rejectCall: body.rejectCall === true,
      msgRejectCall: typeof body.msgRejectCall === 'string' ? body.msgRejectCall : '',
      readMessages: body.readMessages === true,
      ignoreGroups: body.ignoreGroups === true,
      ignoreStatus: body.ignoreStatus === true,
    };
    return json(200, { message: 'Advanced settings updated successfully', settings: { ...inst.settings } });
  }

  #dial(inst: Inst, body: Json): Reply {
    const number = isObject(body) ? body.number : undefined;
    if (typeof number !== 'string' || !/^\d{8,15}$/.test(number)) {
      if (typeof number === 'string' && number.includes('+')) {
        this.violations.push(`/call/dial with "${number}": WhatsApp drops a dial to a JID with +`);
      }
      return err(400, 'invalid number: digits only, country code first, no +');
    }
    const down = this.#notConnected(inst);
    if (down) {
      return down;
    }
    if (this.#liveTracked(inst).length >= (this.#opts.maxConcurrentCalls ?? 4)) {
      return err(429, 'too many concurrent calls');
    }
    const now = this.now();
    inst.dialTimes = inst.dialTimes.filter((t) => t > now - 60_000);
    if (inst.dialTimes.length >= (this.#opts.maxDialsPerMinute ?? 6)) {
      const retry = Math.max(1, Math.ceil((inst.dialTimes[0]! + 60_000 - now) / 1000));
      return { ...err(429, 'dial rate limit exceeded'), headers: { 'Retry-After': String(retry) } };
    }
    inst.dialTimes.push(now);
    const c = this.#newCall(inst, {
      direction: 'outgoing',
      peer: number,
      peerLid: this.#lidFor(number),
      device: 0,
      creatorIsLid: false,
      video: false,
      group: null,
    });
    this.#armRingTimers(c);
    return json(200, this.#callInfo(c));
  }

  #callFor(inst: Inst, body: Json): FakeCallState | Reply {
    const callId = isObject(body) ? body.callId : undefined;
    if (typeof callId !== 'string' || callId === '') {
      return err(400, 'callId is required');
    }
    const c = this.#calls.get(callId);
    if (!c || c.inst !== inst || !c.tracked || c.phase === 'ended') {
      return err(404, 'call not found');
    }
    return c;
  }

  #answer(inst: Inst, body: Json): Reply {
    const c = this.#callFor(inst, body);
    if ('status' in c) {
      return c;
    }
    const down = this.#notConnected(inst);
    if (down) {
      return down;
    }
    if (c.direction !== 'incoming' || c.phase !== 'ringing') {
      return err(409, `call is not ringing (phase: ${c.phase})`);
    }
    if (typeof body.callCreator !== 'string') {
      // Some add-ons (F-goip) answer by callCreator: without it they cannot answer (spec §2.1).
      this.violations.push(`/call/answer for ${c.callId} without callCreator: F-goip needs the offer's`);
    } else if (bareJid(body.callCreator) !== bareJid(c.creator)) {
      this.violations.push(
        `/call/answer for ${c.callId} with callCreator "${body.callCreator}", not the offer's "${c.creator}"`,
      );
    }
    for (const t of c.timers) {
      this.#cancel(t);
    }
    c.timers = [];
    this.#startConnecting(c);
    return json(200, this.#callInfo(c));
  }

  #hangup(inst: Inst, body: Json): Reply {
    const c = this.#callFor(inst, body);
    if ('status' in c) {
      return c;
    }
    const down = this.#notConnected(inst);
    if (down) {
      return down;
    }
    const after =
      c.direction === 'incoming' && c.phase === 'ringing'
        ? this.#rejectRinging(c, 'rejected')
        : this.#end(c, { ended: 'hangup' });
    return json(200, { message: 'success' }, after);
  }

  #play(inst: Inst, body: Json): Reply {
    const c = this.#callFor(inst, body);
    if ('status' in c) {
      return c;
    }
    if (!isHttpUrl(body.mediaUrl)) {
      return err(400, 'mediaUrl must be an http(s) URL');
    }
    const down = this.#notConnected(inst);
    if (down) {
      return down;
    }
    if (c.phase === 'other') {
      return err(409, 'call is not handled by this server (phase: other)');
    }
    const queued = c.phase !== 'active';
    c.plays.push({ mediaUrl: body.mediaUrl, queued, at: this.now() });
    return json(200, { message: 'success', queued });
  }

  #streamTicket(inst: Inst, body: Json, _url: URL): Reply {
    const c = this.#callFor(inst, body);
    if ('status' in c) {
      return c;
    }
    const mode = body.mode ?? 'talk';
    if (mode !== 'talk' && mode !== 'listen') {
      return err(400, 'mode must be talk or listen');
    }
    const down = this.#notConnected(inst);
    if (down) {
      return down;
    }
    const now = this.now();
    for (const [k, t] of this.#tickets) {
      if (t.spent || t.expiresAt <= now) {
        this.#tickets.delete(k);
      }
    }
    if ([...this.#tickets.values()].filter((t) => t.inst === inst).length >= (this.#opts.maxOpenTickets ?? 8)) {
      return err(429, 'ticket pool exhausted');
    }
    const ttl = this.#opts.ticketTtlSeconds ?? 30;
    const ticket = this.#newTicket();
    this.#tickets.set(ticket, {
      ticket,
      inst,
      callId: c.callId,
      mode,
      binary: body.binary === true,
      expiresAt: now + ttl * 1000,
      spent: false,
    });
    return json(200, { ticket, expiresInSeconds: ttl, path: `/call/stream/${c.callId}?ticket=${ticket}` });
  }

  // ── media WebSocket ──

  #upgrade(req: IncomingMessage, socket: Duplex, _head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const route = matchRoute('GET', url.pathname);
    const headers = { ...req.headers };
    const entry: RecordedRequest = {
      method: 'GET',
      path: req.url ?? '/',
      route: route?.pattern ?? null,
      instanceId: null,
      headers,
      rawBody: '',
      body: undefined,
      status: 0,
      response: undefined,
      at: this.now(),
    };
    this.requests.push(entry);
    const refuse = (status: number, text: string) => {
      entry.status = status;
      entry.response = text;
      socket.end(
        `HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : status === 400 ? 'Bad Request' : 'Unauthorized'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    };
    if (route?.name !== 'stream') {
      refuse(404, GIN_404);
      return;
    }
    const given = url.searchParams.get('ticket') ?? '';
    const ticket = this.#tickets.get(given);
    const fresh = ticket !== undefined && !ticket.spent;
    if (ticket) {
      ticket.spent = true; // spent by any redeem attempt, right or wrong
    }
    const c = ticket ? this.#calls.get(ticket.callId) : undefined;
    if (
      !ticket ||
      !fresh ||
      ticket.callId !== route.params.callId ||
      ticket.expiresAt <= this.now() ||
      !c ||
      c.phase === 'ended'
    ) {
      refuse(401, '{"error":"invalid or expired ticket"}');
      return;
    }
    entry.instanceId = ticket.inst.id;
    if (ticket.inst.extension !== 'on') {
      refuse(404, GIN_404);
      return;
    }
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      refuse(400, 'websocket upgrade required');
      return;
    }
    const accept = createHash('sha1')
      .update(key + WS_GUID)
      .digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    entry.status = 101;
    const stream = new MediaStream(socket, c, ticket, this.#opts.mediaFrameMs ?? 60);
    c.streams.add(stream);
    this.#allStreams.push(stream);
  }

  // ── control over HTTP (/__fake/…) ──

  async #control(method: string, name: string, raw: string, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body ?? null));
    };
    let b: Json = {};
    try {
      b = raw ? JSON.parse(raw) : {};
    } catch {
      return send(400, { error: 'invalid JSON' });
    }
    try {
      if (method === 'GET' && name === 'requests') {
        return send(200, this.requests);
      }
      if (method === 'GET' && name === 'deliveries') {
        return send(200, this.deliveries);
      }
      if (method === 'GET' && name === 'calls') {
        return send(200, this.calls());
      }
      if (method !== 'POST') {
        return send(404, { error: 'unknown control route' });
      }
      switch (name) {
        case 'incoming':
          return send(200, { callId: await this.incomingCall(b, b.emit) });
        case 'phone-answers':
          await this.phoneAnswers(b.callId, b, b.emit);
          return send(200, { ok: true });
        case 'phone-rejects':
          await this.phoneRejects(b.callId, b.emit);
          return send(200, { ok: true });
        case 'peer-hangs-up':
          await this.peerHangsUp(b.callId, b.emit);
          return send(200, { ok: true });
        case 'peer-accepts':
          await this.peerAccepts(b.callId, b, b.emit);
          return send(200, { ok: true });
        case 'peer-declines':
          await this.peerDeclines(b.callId, b, b.emit);
          return send(200, { ok: true });
        case 'disconnect':
          await this.disconnect(b.instanceId, b.message);
          return send(200, { ok: true });
        case 'reconnect':
          this.reconnect(b.instanceId);
          return send(200, { ok: true });
        case 'extension':
          this.setExtension(b.instanceId, b.mode);
          return send(200, { ok: true });
        case 'inject':
          this.inject(b);
          return send(200, { ok: true });
        case 'clear-injections':
          this.clearInjections();
          return send(200, { ok: true });
        case 'advance':
          this.advance(Number(b.ms) || 0);
          return send(200, { now: this.now() });
        case 'release-held':
          await this.releaseHeld(b);
          return send(200, { ok: true });
        case 'flush':
          await this.flush();
          return send(200, { ok: true });
        case 'reset':
          this.reset();
          return send(200, { ok: true });
        default:
          return send(404, { error: 'unknown control route' });
      }
    } catch (error) {
      return send(400, { error: (error as Error).message });
    }
  }

  // ── lifecycle ──

  reset(): void {
    for (const t of this.#timers) {
      clearTimeout(t.handle);
    }
    this.#timers = [];
    for (const s of this.#allStreams) {
      s.destroy();
    }
    this.#allStreams = [];
    this.#calls.clear();
    this.#tickets.clear();
    this.#held = [];
    this.#injections.length = 0;
    this.requests.length = 0;
    this.deliveries.length = 0;
    this.violations.length = 0;
    this.#emitDefaults = { ...this.#opts.emitDefaults };
    this.#deliverySeq = 0;
    this.#seedState();
  }

  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#closing.abort();
    for (const t of this.#timers) {
      clearTimeout(t.handle);
    }
    this.#timers = [];
    for (const s of this.#allStreams) {
      s.destroy();
    }
    this.#held = [];
    const server = this.#server;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // hung requests must not keep it open
      });
    }
    await Promise.all([...this.#pending]);
  }
}

/** Start the fake on 127.0.0.1 with an ephemeral port; `baseUrl` is ready when this resolves. */
export async function startFakeEvolution(opts: FakeEvolutionOptions): Promise<FakeEvolution> {
  if (opts.instances.length === 0) {
    throw new Error('fake Evolution needs at least one instance');
  }
  const fake = new FakeEvolutionServer(opts);
  await fake.listen();
  return fake;
}
