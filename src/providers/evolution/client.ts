// The Evolution Go client (docs/spec/providers-evolution-go.md §2): stock `/call/reject` plus the calls extension routes.
// One instance per number; the instance token in `apikey` is the whole identity, paths and bodies never name it.
import type { Logger } from 'pino';
import type { Call } from '../../model/call.ts';
import type { NumberRecord } from '../../model/number.ts';
import { AnswerTooLargeError, cappedText, MAX_PROVIDER_ANSWER_BYTES } from '../capped-text.ts';
import { redirectRefusal } from '../redirect-refusal.ts';
import type {
  CallProvider,
  EndOutcome,
  EvolutionSecrets,
  FailureCategory,
  ProviderFailure,
  ProviderResult,
  StartCallRequest,
} from '../types.ts';
import { failure, ok } from '../types.ts';
import { type AllowedHosts, HOST_NOT_ALLOWED, isAllowedHost } from './allowed-hosts.ts';
import { withoutSecret } from './redact.ts';

/** A retry with less time left than this would only time out. */
const MIN_RETRY_MS = 50;
/** Connection errors (fetch's `cause`) that mean the request never left. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export interface EvolutionClientOptions {
  /** Every request but dial (PROVIDER_TIMEOUT_MS, 10 s: a stock reject may sleep 2 s restarting its client). */
  timeoutMs: number;
  /** `/call/dial` (EVOLUTION_DIAL_TIMEOUT_MS, 35 s). */
  dialTimeoutMs: number;
  secretsOf(number: NumberRecord): EvolutionSecrets;
  logger: Logger;
  /** How long a stored `capabilities` verdict is trusted (§2.3: 5 min). */
  capabilityTtlMs?: number;
  now?: () => number;
  /** Told whenever a reply proves what the server has; the service persists it into publicConfig.capabilities. */
  onCapability?(number: NumberRecord, capability: KnownCapability): void;
  /**
   * Told when one add-on route turns out missing (gin 404) or back: the service persists it into
   * publicConfig.missingRoutes. Add-ons ship different subsets, so a missing route disables only its action.
   */
  onRouteCapability?(number: NumberRecord, route: string, present: boolean): void;
  /** EVOLUTION_ALLOWED_HOSTS, checked again at each request: a number registered before the list may name another. */
  allowedHosts?: AllowedHosts;
}

export type EvolutionCapability = 'unknown' | 'present' | 'disabled' | 'absent';
export type KnownCapability = Exclude<EvolutionCapability, 'unknown'>;

/** The per-number config the adapter reads (publicConfig of an EVO_GO number). */
export interface EvolutionPublicConfig {
  baseUrl: string;
  instanceId: string;
  instanceName: string | null;
  publicWsBaseUrl: string | null;
  capabilities?: { callsExtension: EvolutionCapability; checkedAt: string | null };
  /** Add-on routes the server answered with gin's 404, and when (path → ISO time). */
  missingRoutes?: Record<string, string>;
}

/** What the service stores with an EVO_GO call (`providerData`): the offer's CallCreator, verbatim. */
export interface EvolutionCallData {
  callCreator: string;
}

export interface StreamTicket {
  ticket: string;
  expiresInSeconds: number;
  path: string;
}

/** §2.3: the one sentence FEATURE_NOT_SUPPORTED carries on EVO_GO. */
export const EVOLUTION_NOT_SUPPORTED_MESSAGE =
  "This web number's Evolution Go server has no calls extension; only declining ringing calls is available.";

const DEFAULT_CAPABILITY_TTL_MS = 5 * 60_000;
/** §2.1: the 500 texts of an instance that is not connected to WhatsApp. */
const NOT_CONNECTED_TEXTS = [
  'client disconnected',
  'no active session found',
  'websocket not connected',
  "the store doesn't contain a device jid",
];

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * How a non-2xx reads depends on what we asked: ending a call the server no longer has means it is over;
 * acting on it is a state conflict (§2.1).
 */
type Kind = 'end' | 'act' | 'dial' | 'probe';
interface EvoRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: Json;
  kind: Kind;
  extension: boolean;
  timeoutMs: number;
}
type Reply =
  | { ok: true; status: number; json: Json | null }
  | { ok: false; failure: ProviderFailure; network: boolean };

/** The verbatim CallCreator JID stored with a call (`providerData.callCreator`; JSON text tolerated); null when absent. */
export function evolutionCallCreatorOf(call: Call): string | null {
  let data: unknown = call.providerData;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      return null;
    }
  }
  const creator = isObject(data) ? data.callCreator : undefined;
  // A bare number is accepted by the server and silently ineffective (§2): only a JID will do.
  return typeof creator === 'string' && creator.includes('@') ? creator : null;
}

export function evolutionConfigOf(number: NumberRecord): EvolutionPublicConfig | null {
  const c = number.publicConfig;
  if (typeof c.baseUrl !== 'string' || !/^https?:\/\//i.test(c.baseUrl)) {
    return null;
  }
  const caps = isObject(c.capabilities) ? c.capabilities : null;
  const missing = isObject(c.missingRoutes) ? c.missingRoutes : null;
  return {
    baseUrl: c.baseUrl.replace(/\/+$/, ''),
    instanceId: typeof c.instanceId === 'string' ? c.instanceId : '',
    instanceName: typeof c.instanceName === 'string' ? c.instanceName : null,
    publicWsBaseUrl:
      typeof c.publicWsBaseUrl === 'string' && c.publicWsBaseUrl ? c.publicWsBaseUrl.replace(/\/+$/, '') : null,
    ...(caps
      ? {
          capabilities: {
            callsExtension:
              (['present', 'disabled', 'absent'] as const).find((v) => v === caps.callsExtension) ?? 'unknown',
            checkedAt: typeof caps.checkedAt === 'string' ? caps.checkedAt : null,
          },
        }
      : {}),
    ...(missing
      ? {
          missingRoutes: Object.fromEntries(
            Object.entries(missing).filter((e): e is [string, string] => typeof e[1] === 'string'),
          ),
        }
      : {}),
  };
}

/** §2.2: the wsUrl a client opens — publicWsBaseUrl (default: baseUrl with http→ws) + the ticket's path. */
export function evolutionWsUrl(number: NumberRecord, path: string): string | null {
  const config = evolutionConfigOf(number);
  if (!config) {
    return null;
  }
  const base = config.publicWsBaseUrl ?? config.baseUrl.replace(/^http/i, 'ws');
  return base + (path.startsWith('/') ? path : `/${path}`);
}

/** Retry-After as seconds or an HTTP date; undefined when absent or junk. */
export function retryAfterOf(header: string | null, nowMs: number): number | undefined {
  if (!header) {
    return undefined;
  }
  if (/^\d+$/.test(header.trim())) {
    return Number(header.trim());
  }
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - nowMs) / 1000)) : undefined;
}

/**
 * Evolution's 400 means a bad request or an uncallable number: the API caller's to fix. So does a request this
 * adapter refuses before sending (providerCode null), e.g. a `to` the API's pattern allows but no dial takes.
 */
export function isEvolutionCallersMistake(f: ProviderFailure): boolean {
  return f.category === 'INVALID_REQUEST' && (f.providerCode === 400 || f.providerCode === null);
}

/**
 * A 429 without Retry-After (providers-evolution-go.md §2.1): the add-on allows 6 dials a minute, one every 10 s; its
 * other limits (4 concurrent calls, the ticket pool) free up as calls end. A client back sooner is refused again.
 */
export const EVOLUTION_RATE_LIMIT_RETRY_AFTER_SECONDS = 10;

export class EvolutionProvider implements CallProvider {
  readonly notSupportedMessage = EVOLUTION_NOT_SUPPORTED_MESSAGE;
  readonly isCallersMistake = isEvolutionCallersMistake;
  readonly rateLimitRetryAfterSeconds = EVOLUTION_RATE_LIMIT_RETRY_AFTER_SECONDS;
  readonly #o: EvolutionClientOptions;
  /** Last verdict handed to onCapability per number: only to avoid repeating it, never to gate requests. */
  readonly #reported = new Map<string, { capability: KnownCapability; at: number }>();
  /** Same, per add-on route (`<numberId> <path>`). */
  readonly #reportedRoutes = new Map<string, { present: boolean; at: number }>();
  constructor(options: EvolutionClientOptions) {
    this.#o = options;
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  /**
   * What is known about the number's calls extension: the stored verdict while younger than the TTL, else 'unknown'
   * (the next extension request then finds out, and reports it through onCapability).
   */
  capabilityOf(number: NumberRecord): EvolutionCapability {
    const caps = evolutionConfigOf(number)?.capabilities;
    if (!caps || caps.callsExtension === 'unknown' || !caps.checkedAt) {
      return 'unknown';
    }
    const age = this.#now() - Date.parse(caps.checkedAt);
    return Number.isFinite(age) && age >= 0 && age < (this.#o.capabilityTtlMs ?? DEFAULT_CAPABILITY_TTL_MS)
      ? caps.callsExtension
      : 'unknown';
  }

  /** Whether the server answered this add-on route with gin's 404 within the TTL. */
  isRouteMissing(number: NumberRecord, route: string): boolean {
    const at = evolutionConfigOf(number)?.missingRoutes?.[route];
    if (!at) {
      return false;
    }
    const age = this.#now() - Date.parse(at);
    return Number.isFinite(age) && age >= 0 && age < (this.#o.capabilityTtlMs ?? DEFAULT_CAPABILITY_TTL_MS);
  }

  // ── the port ──

  /** 'reject' → stock `/call/reject` (ringing inbound); 'terminate' → extension `/call/hangup`. Retried once on a network error. */
  async endCall(
    number: NumberRecord,
    call: Call,
    action: 'reject' | 'terminate',
  ): Promise<ProviderResult<EndOutcome | undefined>> {
    const result = action === 'reject' ? await this.#reject(number, call) : await this.#hangup(number, call);
    // docs/spec/calls-api.md §4.8: on terminate an offline instance is "provider unavailable", not a 409.
    if (!result.ok && result.category === 'NOT_CONNECTED') {
      return { ...result, category: 'PROVIDER_DOWN' };
    }
    return result;
  }

  reject(number: NumberRecord, call: Call): Promise<ProviderResult<EndOutcome | undefined>> {
    return this.#reject(number, call);
  }

  /** `/call/answer` (extension). Never retried. The SDP is meaningless on EVO_GO and ignored. */
  async accept(number: NumberRecord, call: Call, _sdpAnswer: string | null): Promise<ProviderResult> {
    const callCreator = evolutionCallCreatorOf(call);
    const body: Json = { callId: call.externalCallId, ...(callCreator ? { callCreator } : {}) };
    const reply = await this.#send(number, {
      method: 'POST',
      path: '/call/answer',
      body,
      kind: 'act',
      extension: true,
      timeoutMs: this.#o.timeoutMs,
    });
    return reply.ok ? ok : reply.failure;
  }

  /** The port's start: a dial. EVO_GO calls carry no SDP and no opaque data on the wire (the service keeps the latter). */
  start(number: NumberRecord, request: StartCallRequest): Promise<ProviderResult<{ externalCallId: string }>> {
    return this.dial(number, request.to);
  }

  // ── beyond the port ──

  /** `/call/dial` (extension), never retried. `to` may carry `+`, spaces or dashes; only digits are sent. */
  async dial(number: NumberRecord, to: string): Promise<ProviderResult<{ externalCallId: string }>> {
    const digits = to.replace(/[\s().+-]/g, '');
    if (!/^\d{8,15}$/.test(digits)) {
      return failure('INVALID_REQUEST', 'to must be a phone number of 8 to 15 digits', null);
    }
    const reply = await this.#send(number, {
      method: 'POST',
      path: '/call/dial',
      body: { number: digits },
      kind: 'dial',
      extension: true,
      timeoutMs: this.#o.dialTimeoutMs,
    });
    if (!reply.ok) {
      return reply.failure;
    }
    const callId = reply.json?.callId;
    if (typeof callId !== 'string' || callId === '') {
      return failure('PROVIDER_DOWN', 'Evolution Go answered the dial without a callId', reply.status);
    }
    return { ok: true, value: { externalCallId: callId } };
  }

  /** `/call/play` (extension): queued until the call is active; there is no completion event. */
  async play(number: NumberRecord, call: Call, mediaUrl: string): Promise<ProviderResult<{ queued: boolean }>> {
    if (!isHttpUrl(mediaUrl)) {
      return failure('INVALID_REQUEST', 'mediaUrl must be an http(s) URL', null);
    }
    const reply = await this.#send(number, {
      method: 'POST',
      path: '/call/play',
      body: { callId: call.externalCallId, mediaUrl },
      kind: 'act',
      extension: true,
      timeoutMs: this.#o.timeoutMs,
    });
    if (!reply.ok) {
      return reply.failure;
    }
    return { ok: true, value: { queued: reply.json?.queued === true } };
  }

  /** `/call/stream-ticket` (extension): a single-use ticket for the realtime media socket on the Evolution Go server. */
  async streamTicket(number: NumberRecord, call: Call, mode: 'talk' | 'listen'): Promise<ProviderResult<StreamTicket>> {
    const reply = await this.#send(number, {
      method: 'POST',
      path: '/call/stream-ticket',
      body: { callId: call.externalCallId, mode, binary: true },
      kind: 'act',
      extension: true,
      timeoutMs: this.#o.timeoutMs,
    });
    if (!reply.ok) {
      return reply.failure;
    }
    const { ticket, expiresInSeconds, path } = reply.json ?? {};
    if (typeof ticket !== 'string' || ticket === '' || typeof path !== 'string' || !path.startsWith('/')) {
      return failure('PROVIDER_DOWN', 'Evolution Go answered the stream ticket without ticket/path', reply.status);
    }
    const ttl =
      typeof expiresInSeconds === 'number' && Number.isFinite(expiresInSeconds) && expiresInSeconds > 0
        ? Math.floor(expiresInSeconds)
        : 30;
    return { ok: true, value: { ticket, expiresInSeconds: ttl, path } };
  }

  /**
   * `GET /call/active` (§2.3). Always asks, whatever is stored; a 401 is a failure (config error), not a capability.
   * A 404 says only that this route is missing: add-ons without it still dial, answer and hang up ('unknown').
   */
  async probe(number: NumberRecord): Promise<ProviderResult<{ capability: EvolutionCapability; checkedAt: string }>> {
    const reply = await this.#send(
      number,
      { method: 'GET', path: '/call/active', kind: 'probe', extension: true, timeoutMs: this.#o.timeoutMs },
      { ignoreStoredCapability: true },
    );
    const checkedAt = new Date(this.#now()).toISOString();
    if (reply.ok) {
      const capability: KnownCapability = reply.json?.enabled === false ? 'disabled' : 'present';
      this.#learned(number, capability);
      return { ok: true, value: { capability, checkedAt } };
    }
    if (reply.failure.category === 'NOT_SUPPORTED') {
      // #send already reported the disabled extension, or the missing route.
      const capability: EvolutionCapability = reply.failure.providerCode === 409 ? 'disabled' : 'unknown';
      return { ok: true, value: { capability, checkedAt } };
    }
    return reply.failure;
  }

  // ── internals ──

  async #reject(number: NumberRecord, call: Call): Promise<ProviderResult<EndOutcome | undefined>> {
    const callCreator = evolutionCallCreatorOf(call);
    if (!callCreator) {
      // Without the offer's JID a stock reject would be accepted and ignored. The extension's hang-up rejects a ringing call by id.
      this.#o.logger.warn(
        { numberId: number.id, callId: call.id },
        'evolution call has no stored CallCreator; rejecting through /call/hangup',
      );
      return this.#hangup(number, call);
    }
    const result = await this.#withNetworkRetry((timeoutMs) =>
      this.#send(number, {
        method: 'POST',
        path: '/call/reject',
        body: { callCreator, callId: call.externalCallId },
        kind: 'end',
        extension: false,
        timeoutMs,
      }),
    );
    // whatsmeow sends the reject stanza without waiting for WhatsApp: a 200 proves only that it was sent.
    return result.ok ? { ok: true, value: { providerConfirmed: false } } : result;
  }

  #hangup(number: NumberRecord, call: Call): Promise<ProviderResult> {
    return this.#withNetworkRetry((timeoutMs) =>
      this.#send(number, {
        method: 'POST',
        path: '/call/hangup',
        body: { callId: call.externalCallId },
        kind: 'end',
        extension: true,
        timeoutMs,
      }),
    );
  }

  /**
   * An ending action, tried once more when the request got no answer for network reasons (not an HTTP error), all
   * within one deadline: a hung server costs PROVIDER_TIMEOUT_MS, not twice that (the Meta client does the same).
   * A try that may have reached the server makes the action's outcome uncertain (`mayHaveActed`), and "already
   * ended" to the retry then means our first try ended the call.
   */
  async #withNetworkRetry(send: (timeoutMs: number) => Promise<Reply>): Promise<ProviderResult> {
    const deadline = Date.now() + this.#o.timeoutMs;
    let reply = await send(this.#o.timeoutMs);
    let mayHaveActed = !reply.ok && reply.failure.mayHaveActed === true;
    if (!reply.ok && reply.network) {
      const left = deadline - Date.now();
      if (left >= MIN_RETRY_MS) {
        reply = await send(left);
        if (!reply.ok && reply.failure.category === 'ALREADY_ENDED' && mayHaveActed) {
          return ok;
        }
        mayHaveActed ||= !reply.ok && reply.failure.mayHaveActed === true;
      }
    }
    if (reply.ok) {
      return ok;
    }
    return mayHaveActed ? { ...reply.failure, mayHaveActed: true } : reply.failure;
  }

  #learned(number: NumberRecord, capability: KnownCapability): void {
    // Report a verdict once per TTL per number, unless it changes or the stored one already says so.
    const last = this.#reported.get(number.id);
    const ttl = this.#o.capabilityTtlMs ?? DEFAULT_CAPABILITY_TTL_MS;
    if (this.capabilityOf(number) === capability) {
      return;
    }
    if (last && last.capability === capability && this.#now() - last.at < ttl) {
      return;
    }
    this.#reported.set(number.id, { capability, at: this.#now() });
    try {
      this.#o.onCapability?.(number, capability);
    } catch (error) {
      this.#o.logger.warn({ err: error, numberId: number.id }, 'evolution onCapability callback failed');
    }
  }

  #learnedRoute(number: NumberRecord, route: string, present: boolean): void {
    if (this.isRouteMissing(number, route) === !present) {
      return;
    }
    const key = `${number.id} ${route}`;
    const last = this.#reportedRoutes.get(key);
    if (
      last &&
      last.present === present &&
      this.#now() - last.at < (this.#o.capabilityTtlMs ?? DEFAULT_CAPABILITY_TTL_MS)
    ) {
      return;
    }
    this.#reportedRoutes.set(key, { present, at: this.#now() });
    try {
      this.#o.onRouteCapability?.(number, route, present);
    } catch (error) {
      this.#o.logger.warn({ err: error, numberId: number.id }, 'evolution onRouteCapability callback failed');
    }
  }

  async #send(number: NumberRecord, req: EvoRequest, opts: { ignoreStoredCapability?: boolean } = {}): Promise<Reply> {
    const config = evolutionConfigOf(number);
    if (!config) {
      return { ok: false, failure: failure('CONFIG', 'number has no Evolution Go baseUrl'), network: false };
    }
    if (!isAllowedHost(config.baseUrl, this.#o.allowedHosts ?? null)) {
      return {
        ok: false,
        failure: failure('CONFIG', `the number's Evolution Go baseUrl ${HOST_NOT_ALLOWED}`),
        network: false,
      };
    }
    if (req.extension && !opts.ignoreStoredCapability) {
      const known = this.capabilityOf(number);
      if (known === 'absent' || known === 'disabled') {
        return { ok: false, failure: failure('NOT_SUPPORTED', EVOLUTION_NOT_SUPPORTED_MESSAGE, known), network: false };
      }
      if (this.isRouteMissing(number, req.path)) {
        return { ok: false, failure: failure('NOT_SUPPORTED', EVOLUTION_NOT_SUPPORTED_MESSAGE, 404), network: false };
      }
    }
    let instanceToken: string;
    try {
      instanceToken = this.#o.secretsOf(number).instanceToken;
    } catch {
      return {
        ok: false,
        failure: failure('CONFIG', 'the Evolution Go instance token could not be read'),
        network: false,
      };
    }
    if (!instanceToken) {
      return { ok: false, failure: failure('CONFIG', 'number has no Evolution Go instance token'), network: false };
    }

    let response: Response;
    let text: string;
    try {
      response = await fetch(config.baseUrl + req.path, {
        method: req.method,
        headers: { apikey: instanceToken, 'content-type': 'application/json', accept: 'application/json' },
        ...(req.body ? { body: JSON.stringify(req.body) } : {}),
        // fetch would follow a redirect with the apikey header (only Authorization is dropped across origins).
        redirect: 'manual',
        signal: AbortSignal.timeout(req.timeoutMs),
      });
      text = await cappedText(response);
    } catch (error) {
      if (error instanceof AnswerTooLargeError) {
        // It took the request: what it did is unknown, as with a lost answer.
        return {
          ok: false,
          failure: failure(
            'PROVIDER_DOWN',
            `Evolution Go sent an answer over ${MAX_PROVIDER_ANSWER_BYTES} bytes`,
            null,
            {
              mayHaveActed: true,
            },
          ),
          network: false,
        };
      }
      // Logged once, with the action's outcome, by the provider observer (observed.ts).
      const timedOut = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
      // Refused before a byte was sent: nothing happened. Otherwise the server may carry the request out unseen.
      const neverSent = NOT_SENT.has(((error as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? '');
      return {
        ok: false,
        failure: failure(
          'PROVIDER_DOWN',
          timedOut ? `Evolution Go did not answer within ${req.timeoutMs} ms` : 'Evolution Go could not be reached',
          null,
          neverSent ? {} : { mayHaveActed: true },
        ),
        network: !timedOut,
      };
    }
    let json: Json | null = null;
    try {
      const parsed: unknown = JSON.parse(text);
      if (isObject(parsed)) {
        json = parsed;
      }
    } catch {
      /* not JSON: decided below */
    }

    if (response.status >= 200 && response.status < 300) {
      if (req.extension) {
        this.#learned(number, 'present');
        this.#learnedRoute(number, req.path, true);
      }
      return { ok: true, status: response.status, json };
    }
    if (response.status >= 300 && response.status < 400) {
      // Not followed (the token would go along): the number's baseUrl is to be the address it redirects to.
      return {
        ok: false,
        failure: failure('CONFIG', redirectRefusal(response), response.status),
        network: false,
      };
    }
    const category = this.#classify(number, req, response.status, json);
    const message = withoutSecret(
      typeof json?.error === 'string'
        ? json.error
        : typeof json?.message === 'string'
          ? json.message
          : text.trim() || `HTTP ${response.status}`,
      instanceToken,
    ).slice(0, 200);
    const retryAfterSeconds =
      response.status === 429 ? retryAfterOf(response.headers.get('retry-after'), this.#now()) : undefined;
    const log = { numberId: number.id, path: req.path, httpStatus: response.status, category };
    if (category === 'AUTH') {
      this.#o.logger.error(log, 'evolution rejected the instance token (wrong or rotated)');
    } else {
      this.#o.logger.warn(log, 'evolution refused request');
    }
    const providerMessage = category === 'NOT_SUPPORTED' ? EVOLUTION_NOT_SUPPORTED_MESSAGE : message;
    return {
      ok: false,
      failure: failure(
        category,
        providerMessage,
        response.status,
        retryAfterSeconds !== undefined ? { retryAfterSeconds } : {},
      ),
      network: false,
    };
  }

  /** §2.1's table. */
  #classify(number: NumberRecord, req: EvoRequest, status: number, json: Json | null): FailureCategory {
    const error = typeof json?.error === 'string' ? json.error.toLowerCase() : '';
    if (status === 404 && json === null) {
      // gin's "404 page not found": this route does not exist. Add-ons ship different subsets (issue 16), so only
      // this action is off; the others are tried on their own.
      if (req.extension) {
        this.#learnedRoute(number, req.path, false);
      }
      return 'NOT_SUPPORTED';
    }
    if (status === 404 || (status === 500 && error.startsWith('call not found'))) {
      // The server no longer tracks the call (F-goip says it with a 500).
      if (req.kind === 'end') {
        return 'ALREADY_ENDED';
      }
      if (req.kind === 'act') {
        return 'STATE_CONFLICT';
      }
      return 'INVALID_REQUEST';
    }
    if (status === 409 && error.startsWith('calls are not active')) {
      this.#learned(number, 'disabled');
      return 'NOT_SUPPORTED';
    }
    if (status === 409) {
      return 'STATE_CONFLICT';
    }
    if (status === 401) {
      return 'AUTH';
    }
    if (status === 429) {
      return 'RATE_LIMITED';
    }
    if (status >= 500) {
      return NOT_CONNECTED_TEXTS.some((t) => error.includes(t)) ? 'NOT_CONNECTED' : 'PROVIDER_DOWN';
    }
    return 'INVALID_REQUEST'; // 400, and any other refusal (providerCode tells them apart)
  }
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
