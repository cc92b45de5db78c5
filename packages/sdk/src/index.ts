// @callgate/sdk: a typed client for the callgate API. Runs wherever fetch, AbortController, TextDecoder and
// WebCrypto exist (Node >= 20, browsers, workers). Types come from the server's OpenAPI document (./types.ts).
import { type FetchLike, namesRequestOptions, type RequestOptions, Transport } from './http.ts';
import { EventStream, type StreamOptions } from './stream.ts';
import type {
  AcceptCallInput,
  Call,
  CallActionResult,
  CallingSettings,
  CallPermission,
  CreateCallInput,
  CreatedApiKey,
  CreatedCall,
  CreatedNumber,
  CreatedWebhook,
  CreatedWebNumber,
  CreateNumberInput,
  CreateWebhookInput,
  CreateWebNumberInput,
  CurrentApiKey,
  DeleteNumberParams,
  ListCallsParams,
  MaskedApiKey,
  NumberConnection,
  PlayInput,
  PreAcceptCallInput,
  RealtimeSession,
  RealtimeSessionInput,
  RegeneratedKey,
  ReplayResult,
  RequestPermissionInput,
  RequestPermissionResult,
  RotatedSecret,
  SimulateCallInput,
  SimulatedCall,
  SimulatedKeys,
  SimulatedUser,
  TimelineEntry,
  UpdateCallingSettingsInput,
  UpdatedCallingSettings,
  UpdateNumberInput,
  UpdateWebhookInput,
  Webhook,
  WebhookEventType,
  WebhookLogEntry,
  WebhookLogsParams,
  WhatsAppNumber,
} from './types.ts';

export { CallgateError, type ClientErrorCode, type ErrorCode } from './errors.ts';
export { ERROR_CODES } from './generated/error-codes.ts';
export type { components, operations, paths } from './generated/openapi.ts';
export type { FetchLike, RequestOptions, RetryPolicy } from './http.ts';

import { openRealtime, type RealtimeStream, type WebSocketConstructor, webSocketClass } from './realtime.ts';

export {
  openRealtime,
  REALTIME_SAMPLE_RATE,
  type RealtimeOptions,
  type RealtimeStream,
  type WebSocketConstructor,
  type WebSocketLike,
} from './realtime.ts';
export { EventStream, type StreamEvent, type StreamEventOf, type StreamOptions } from './stream.ts';
export type * from './types.ts';
export {
  type HeadersLike,
  type VerifyOptions,
  verifyWebhook,
  type WebhookHeaders,
  WebhookVerificationError,
} from './webhook.ts';

export interface CallgateOptions {
  /** Where the API listens, e.g. `https://calls.example.com` (no trailing /v1). */
  baseUrl: string;
  /** A `ps_...` key: a number key for calls, a tenant key for numbers and keys; webhooks and events take either. */
  apiKey?: string;
  /** A `key_...` key id, accepted as a credential when the server allows it (API_KEY_ID_AUTH). */
  apiKeyId?: string;
  /** A fetch implementation (default: globalThis.fetch). */
  fetch?: FetchLike;
  /** Retries after the first attempt on 429, 502, 503, timeouts and network errors (default 2). */
  maxRetries?: number;
  /** Per-attempt timeout (default 60 s: an Evolution dial may take 35 s). */
  timeoutMs?: number;
  /** Backoff tuning: first step (default 500 ms), cap of a step (8 s), longest Retry-After worth waiting for (60 s). */
  retry?: { baseDelayMs?: number; maxDelayMs?: number; maxRetryAfterMs?: number };
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /**
   * The WebSocket class `calls.realtime` connects with (default: the global one). Node 20 has none: pass
   * `WebSocket` from the `ws` package.
   */
  WebSocket?: WebSocketConstructor;
}

/** One page of calls, newest first; `nextBefore` (the last call's id, for `before`) is null on the last page. */
export interface CallPage {
  calls: Call[];
  nextBefore: string | null;
}

const path = (strings: TemplateStringsArray, ...ids: string[]) =>
  strings.reduce((out, s, i) => out + s + encodeURIComponent(ids[i] ?? ''), '');

/** The server-side filters of GET /v1/calls (status=A,B; peer=<digits>): every page of a listing keeps them. */
const filters = (params: ListCallsParams) => ({ status: params.status, peer: params.peer });

class CallSettings {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }
  /** Calling settings of the key's number (META: as Meta holds them; SANDBOX: the number's own). */
  get(opts?: RequestOptions): Promise<CallingSettings> {
    return this.#t.request({ method: 'GET', path: '/v1/calls/settings' }, opts);
  }
  /** Partial update at the `calling` level (flat or wrapped); each object given replaces Meta's whole. */
  update(input: UpdateCallingSettingsInput, opts?: RequestOptions): Promise<UpdatedCallingSettings> {
    return this.#t.request({ method: 'PUT', path: '/v1/calls/settings', body: input }, opts);
  }
}

class CallPermissions {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }
  /** Whether the user `to` (E.164) lets this number call them (META, SANDBOX; Meta's snake_case answer). */
  get(to: string, opts?: RequestOptions): Promise<CallPermission> {
    return this.#t.request({ method: 'GET', path: '/v1/calls/permissions', query: { to } }, opts);
  }
  /** Sends the user a call permission request (META; on SANDBOX the simulated user answers). */
  request(input: RequestPermissionInput, opts?: RequestOptions): Promise<RequestPermissionResult> {
    return this.#t.request({ method: 'POST', path: '/v1/calls/permissions/request', body: input }, opts);
  }
}

/** GET /v1/calls's own default page (and Pilot's): list() without a limit asks for what the server would give. */
const DEFAULT_PAGE = 25;

/** /v1/calls: needs a number key. `callId` is our `call_...` id or the provider's call id. */
class Calls {
  readonly #t: Transport;
  readonly #WebSocket: WebSocketConstructor | undefined;
  readonly settings: CallSettings;
  readonly permissions: CallPermissions;
  constructor(t: Transport, webSocket?: WebSocketConstructor) {
    this.#t = t;
    this.#WebSocket = webSocket;
    this.settings = new CallSettings(t);
    this.permissions = new CallPermissions(t);
  }

  /**
   * One page of calls, newest first (limit 1..100, default 25, the server's and Pilot's); `before` = a createdAt (exclusive) or the id of the
   * last call seen. `nextBefore` is that id for the next page: calls created in the same millisecond are never
   * skipped. `status` (`RINGING,ACCEPTED`) and `peer` (digits) filter on the server.
   */
  async list(params: ListCallsParams = {}, opts?: RequestOptions): Promise<CallPage> {
    const limit = params.limit ?? DEFAULT_PAGE;
    const { calls } = await this.#t.request<{ calls: Call[] }>(
      { method: 'GET', path: '/v1/calls', query: { limit, before: params.before, ...filters(params) } },
      opts,
    );
    return { calls, nextBefore: calls.length < limit ? null : (calls.at(-1)?.id ?? null) };
  }

  /** Every call, page by page (at most `limit` a page), newest first, each page after the last call of the one before. */
  async *iterate(
    params: ListCallsParams & { maxPages?: number } = {},
    opts?: RequestOptions,
  ): AsyncGenerator<CallPage> {
    let before = params.before;
    for (let pages = 0; params.maxPages === undefined || pages < params.maxPages; pages++) {
      const page = await this.list({ ...params, before }, opts);
      if (page.calls.length === 0) {
        return;
      }
      yield page;
      if (page.nextBefore === null) {
        return;
      }
      before = page.nextBefore;
    }
  }

  /** Every call, one at a time (iterate() flattened). */
  async *each(params: ListCallsParams = {}, opts?: RequestOptions): AsyncGenerator<Call> {
    for await (const page of this.iterate(params, opts)) {
      yield* page.calls;
    }
  }

  get(callId: string, params: { includeSdp?: boolean } = {}, opts?: RequestOptions): Promise<Call> {
    return this.#t.request(
      { method: 'GET', path: path`/v1/calls/${callId}`, query: { includeSdp: params.includeSdp ? '1' : undefined } },
      opts,
    );
  }

  /** The call's timeline: provider events, API and system actions, in order. */
  async events(callId: string, opts?: RequestOptions): Promise<TimelineEntry[]> {
    return (
      await this.#t.request<{ events: TimelineEntry[] }>(
        { method: 'GET', path: path`/v1/calls/${callId}/events` },
        opts,
      )
    ).events;
  }

  /**
   * Starts a business-initiated call (META, SANDBOX: the user's permission first; without `sdp` callgate's media
   * engine makes the offer and holds the audio).
   */
  create(input: CreateCallInput, opts?: RequestOptions): Promise<CreatedCall> {
    return this.#t.request({ method: 'POST', path: '/v1/calls', body: input }, opts);
  }

  /**
   * Answers a ringing inbound call (META, SANDBOX: `sdp` is your answer, or none and callgate answers and holds the
   * audio; EVO_GO: no body).
   */
  accept(callId: string, input: AcceptCallInput = {}, opts?: RequestOptions): Promise<CallActionResult> {
    return this.#t.request({ method: 'POST', path: path`/v1/calls/${callId}/accept`, body: input }, opts);
  }

  /**
   * Sends the SDP answer early; the call keeps ringing (META, SANDBOX: `sdp` is your answer, or none and callgate's
   * media engine makes it).
   */
  preAccept(callId: string, input: PreAcceptCallInput = {}, opts?: RequestOptions): Promise<CallActionResult> {
    return this.#t.request({ method: 'POST', path: path`/v1/calls/${callId}/pre-accept`, body: input }, opts);
  }

  reject(callId: string, opts?: RequestOptions): Promise<CallActionResult> {
    return this.#t.request({ method: 'POST', path: path`/v1/calls/${callId}/reject` }, opts);
  }

  /** Hangs up. A call that already ended answers its terminal status with `alreadyEnded: true`. */
  terminate(callId: string, opts?: RequestOptions): Promise<CallActionResult> {
    return this.#t.request({ method: 'POST', path: path`/v1/calls/${callId}/terminate` }, opts);
  }

  /** Plays audio into an active call (EVO_GO, or a call whose media callgate holds: WAV, Ogg/Opus, MP3). */
  play(callId: string, input: PlayInput, opts?: RequestOptions): Promise<CallActionResult> {
    return this.#t.request({ method: 'POST', path: path`/v1/calls/${callId}/play`, body: input }, opts);
  }

  /**
   * A realtime session as PCM frames (server media): `for await (const frame of stream)` reads the caller, 16 kHz
   * mono; `stream.send(pcm)` talks back (mode `talk`).
   */
  async realtime(callId: string, input: RealtimeSessionInput, opts?: RequestOptions): Promise<RealtimeStream> {
    // Before the session: a runtime without WebSocket learns it without spending the single-use token.
    const WebSocket = webSocketClass(this.#WebSocket);
    const { wsUrl } = await this.realtimeSession(callId, input, opts);
    return openRealtime(wsUrl, {
      WebSocket,
      ...(opts?.signal ? { signal: opts.signal } : {}),
      ...(opts?.timeoutMs !== undefined ? { openTimeoutMs: opts.timeoutMs } : {}),
    });
  }

  /** The call's recording (server media): stereo Ogg/Opus, the caller left, the business right. */
  recording(callId: string, opts?: RequestOptions): Promise<Uint8Array> {
    return this.#t.request({ method: 'GET', path: path`/v1/calls/${callId}/recording`, binary: 'audio/ogg' }, opts);
  }

  /** Deletes the recording's file; the call keeps `recording.status: "deleted"`. */
  deleteRecording(callId: string, opts?: RequestOptions): Promise<{ success: true; id: string; status: 'deleted' }> {
    return this.#t.request({ method: 'DELETE', path: path`/v1/calls/${callId}/recording` }, opts);
  }

  /** Stops what plays and empties the play queue (server media). */
  stopPlay(callId: string, opts?: RequestOptions): Promise<CallActionResult> {
    return this.#t.request({ method: 'DELETE', path: path`/v1/calls/${callId}/play` }, opts);
  }

  /**
   * A short-lived, single-use token for the call's media WebSocket (EVO_GO, or callgate's own for server media:
   * connect to `wsUrl` as given; append `&format=pcm16` for 16 kHz PCM frames instead of Twilio messages).
   */
  realtimeSession(callId: string, input: RealtimeSessionInput, opts?: RequestOptions): Promise<RealtimeSession> {
    return this.#t.request({ method: 'POST', path: path`/v1/calls/${callId}/realtime-session`, body: input }, opts);
  }
}

/** /v1/numbers: the tenant key (a number key may list its own number). */
class Numbers {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }
  /** Registers a number; the answer carries its number key, shown this once. */
  create(input: CreateNumberInput, opts?: RequestOptions): Promise<CreatedNumber> {
    return this.#t.request({ method: 'POST', path: '/v1/numbers', body: input }, opts);
  }
  /** Pilot's web number by QR (the server needs EVOLUTION_BASE_URL): the answer carries the QR to scan. */
  createWeb(input: CreateWebNumberInput, opts?: RequestOptions): Promise<CreatedWebNumber> {
    return this.#t.request({ method: 'POST', path: '/v1/numbers', body: input }, opts);
  }
  /** Pilot's state and isFullyConnected, asked of the provider now (EVO_GO). */
  status(id: string, opts?: RequestOptions): Promise<NumberConnection> {
    return this.#t.request({ method: 'GET', path: path`/v1/numbers/${id}/status` }, opts);
  }
  /** A new QR for a web number, or a pairing code for `phone`. */
  connect(id: string, input: { phone?: string } = {}, opts?: RequestOptions): Promise<NumberConnection> {
    return this.#t.request({ method: 'POST', path: path`/v1/numbers/${id}/connect`, body: input }, opts);
  }
  /** The tenant's numbers, or a number key's own (the server answers a bare array, as Pilot does). */
  list(opts?: RequestOptions): Promise<WhatsAppNumber[]> {
    return this.#t.request<WhatsAppNumber[]>({ method: 'GET', path: '/v1/numbers' }, opts);
  }
  get(id: string, opts?: RequestOptions): Promise<WhatsAppNumber> {
    return this.#t.request({ method: 'GET', path: path`/v1/numbers/${id}` }, opts);
  }
  /** A number key's own number (GET /v1/number): its provider, whether it is a sandbox, its settings. */
  current(opts?: RequestOptions): Promise<WhatsAppNumber> {
    return this.#t.request({ method: 'GET', path: '/v1/number' }, opts);
  }
  /** Changes the number's own settings (`recordCalls`); answers the number as it now is. */
  update(id: string, input: UpdateNumberInput, opts?: RequestOptions): Promise<WhatsAppNumber> {
    return this.#t.request({ method: 'PATCH', path: path`/v1/numbers/${id}`, body: input }, opts);
  }
  /**
   * Deletes the number, its calls and its key. A number with calls still ringing, connected or being placed is
   * refused (409 NUMBER_HAS_LIVE_CALLS, `details.liveCalls` and `details.callsBeingPlaced`); `force: true` deletes it
   * with them, for calls the provider can no longer end: nothing ends them there, and no `call.ended` is sent.
   */
  delete(id: string, params?: DeleteNumberParams, opts?: RequestOptions): Promise<void>;
  /** The form before `params` came: request options second, as JavaScript callers written for it still pass them. */
  delete(id: string, opts?: RequestOptions): Promise<void>;
  async delete(
    id: string,
    paramsOrOpts: DeleteNumberParams | RequestOptions = {},
    opts?: RequestOptions,
  ): Promise<void> {
    // `{ signal }` or `{ timeoutMs }` second would otherwise be read as params and its options dropped unseen.
    // A `force` left undefined (`{ force: flags.force, signal }` from JavaScript) decides nothing either.
    const legacy = (paramsOrOpts as DeleteNumberParams).force === undefined && namesRequestOptions(paramsOrOpts);
    const params: DeleteNumberParams = legacy ? {} : (paramsOrOpts as DeleteNumberParams);
    await this.#t.request(
      {
        method: 'DELETE',
        path: path`/v1/numbers/${id}`,
        query: { force: params.force ? 'true' : undefined },
        goneIsDone: true,
      },
      legacy ? { ...paramsOrOpts, ...opts } : opts,
    );
  }
}

/** /v1/api-keys: needs the tenant key. */
class ApiKeys {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }
  /** What the key in use speaks for (any key): `scope` tenant or number, its tenant, a number key's number. */
  current(opts?: RequestOptions): Promise<CurrentApiKey> {
    return this.#t.request({ method: 'GET', path: '/v1/api-keys/current' }, opts);
  }
  /** One item per number with its key, masked (last 4 characters of the id and the secret). */
  list(opts?: RequestOptions): Promise<MaskedApiKey[]> {
    return this.#t.request<MaskedApiKey[]>({ method: 'GET', path: '/v1/api-keys' }, opts);
  }
  /** The key of a number that has none, shown once (409 API_KEY_EXISTS when it has one: regenerate instead). */
  create(numberId: string, opts?: RequestOptions): Promise<CreatedApiKey> {
    return this.#t.request({ method: 'POST', path: '/v1/api-keys', body: { whatsappNumberId: numberId } }, opts);
  }
  /** A new key for the number, shown once; the old one stops working at once. */
  regenerate(numberId: string, opts?: RequestOptions): Promise<RegeneratedKey> {
    return this.#t.request({ method: 'POST', path: path`/v1/api-keys/${numberId}/regenerate` }, opts);
  }
}

/** /v1/webhooks: a tenant key (naming whatsappNumberId) or a number key. */
class Webhooks {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }
  /** Registers a URL; the answer carries the `whsec_...` signing secret, shown this once. */
  create(input: CreateWebhookInput, opts?: RequestOptions): Promise<CreatedWebhook> {
    return this.#t.request({ method: 'POST', path: '/v1/webhooks', body: input }, opts);
  }
  list(opts?: RequestOptions): Promise<Webhook[]> {
    return this.#t.request<Webhook[]>({ method: 'GET', path: '/v1/webhooks' }, opts);
  }
  get(id: string, opts?: RequestOptions): Promise<Webhook> {
    return this.#t.request({ method: 'GET', path: path`/v1/webhooks/${id}` }, opts);
  }
  /** `events` replaces the whole list; `active: false` pauses, `true` resumes (also after a 410). */
  update(id: string, input: UpdateWebhookInput, opts?: RequestOptions): Promise<Webhook> {
    return this.#t.request({ method: 'PATCH', path: path`/v1/webhooks/${id}`, body: input }, opts);
  }
  async delete(id: string, opts?: RequestOptions): Promise<void> {
    await this.#t.request({ method: 'DELETE', path: path`/v1/webhooks/${id}`, goneIsDone: true }, opts);
  }
  /** A new secret, shown once; for 24 h deliveries carry signatures of both. */
  rotateSecret(id: string, opts?: RequestOptions): Promise<RotatedSecret> {
    return this.#t.request({ method: 'POST', path: path`/v1/webhooks/${id}/rotate-secret` }, opts);
  }
  /** Delivery attempts, newest first (limit 1..50). */
  async logs(id: string, params: WebhookLogsParams = {}, opts?: RequestOptions): Promise<WebhookLogEntry[]> {
    return (
      await this.#t.request<{ logs: WebhookLogEntry[] }>(
        { method: 'GET', path: path`/v1/webhooks/${id}/logs`, query: params },
        opts,
      )
    ).logs;
  }
  /** Every event a webhook may subscribe to, with what it means. */
  async eventTypes(opts?: RequestOptions): Promise<WebhookEventType[]> {
    return (
      await this.#t.request<{ events: WebhookEventType[] }>({ method: 'GET', path: '/v1/webhooks/event-types' }, opts)
    ).events;
  }
  /** Delivers a past event again, with the same webhook-id. */
  replay(id: string, eventId: string, opts?: RequestOptions): Promise<ReplayResult> {
    return this.#t.request({ method: 'POST', path: path`/v1/webhooks/${id}/replay`, body: { eventId } }, opts);
  }
}

/** /v1/events/stream: the webhook payloads live, over SSE. */
class Events {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }
  /**
   * `for await (const e of client.events.stream())`: every event of the key's number (or tenant), resuming with
   * Last-Event-ID after a disconnect. Break out of the loop, call `close()` or abort `signal` to stop.
   */
  stream(opts: StreamOptions = {}): EventStream {
    return new EventStream(this.#t, opts);
  }
}

/** /v1/sandbox: sandbox numbers only (number key). */
class SandboxCalls {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }
  /** A simulated WhatsApp user calls the number; the call rings like a Meta call. */
  create(input: SimulateCallInput = {}, opts?: RequestOptions): Promise<SimulatedCall> {
    return this.#t.request({ method: 'POST', path: '/v1/sandbox/calls', body: input }, opts);
  }
  /** What the call's simulated user hears and its media state. */
  get(callId: string, opts?: RequestOptions): Promise<SimulatedUser> {
    return this.#t.request({ method: 'GET', path: path`/v1/sandbox/calls/${callId}` }, opts);
  }
  /** The call's simulated user presses keys (`"12#"`: 0–9, *, #, A–D), sent as WhatsApp sends them. */
  pressKeys(callId: string, digits: string, opts?: RequestOptions): Promise<SimulatedKeys> {
    return this.#t.request({ method: 'POST', path: path`/v1/sandbox/calls/${callId}/dtmf`, body: { digits } }, opts);
  }
}

export class Callgate {
  readonly calls: Calls;
  readonly sandbox: { calls: SandboxCalls };
  readonly numbers: Numbers;
  readonly apiKeys: ApiKeys;
  readonly webhooks: Webhooks;
  readonly events: Events;

  constructor(options: CallgateOptions) {
    if (!options.baseUrl) {
      throw new TypeError('Callgate: baseUrl is required');
    }
    const baseUrl = options.baseUrl.replace(/\/+$/, '');
    // Every path starts with /v1: a base ending in it would make every request a bare 404 "Route not found".
    if (/\/v1$/i.test(baseUrl)) {
      throw new TypeError(
        `Callgate: baseUrl is the server's root, without /v1 (${baseUrl.slice(0, -3)}, not ${baseUrl})`,
      );
    }
    const credential = options.apiKey
      ? { name: 'x-api-key' as const, value: options.apiKey }
      : options.apiKeyId
        ? { name: 'x-api-key-id' as const, value: options.apiKeyId }
        : null;
    if (!credential) {
      throw new TypeError('Callgate: apiKey or apiKeyId is required');
    }
    const fetchImpl = options.fetch ?? (globalThis.fetch?.bind(globalThis) as FetchLike | undefined);
    if (!fetchImpl) {
      throw new TypeError('Callgate: no fetch available; pass options.fetch');
    }
    const transport = new Transport({
      baseUrl,
      authHeader: credential,
      fetch: fetchImpl,
      timeoutMs: options.timeoutMs ?? 60_000,
      retry: {
        maxRetries: options.maxRetries ?? 2,
        baseDelayMs: options.retry?.baseDelayMs ?? 500,
        maxDelayMs: options.retry?.maxDelayMs ?? 8_000,
        maxRetryAfterMs: options.retry?.maxRetryAfterMs ?? 60_000,
      },
      headers: { ...options.headers },
    });
    this.calls = new Calls(transport, options.WebSocket);
    this.numbers = new Numbers(transport);
    this.apiKeys = new ApiKeys(transport);
    this.webhooks = new Webhooks(transport);
    this.events = new Events(transport);
    this.sandbox = { calls: new SandboxCalls(transport) };
  }
}
