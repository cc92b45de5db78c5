// The Graph API client for calling: POST /{phone_number_id}/calls (action selects the operation),
// settings, call permissions and the permission-request message.
import type { Logger } from 'pino';
import type { Call } from '../../model/call.ts';
import type { NumberRecord } from '../../model/number.ts';
import { canonicalSdp } from '../../model/sdp.ts';
import type { CallProvider, MetaCallingFeatures, MetaSecrets, ProviderResult, StartCallRequest } from '../types.ts';
import { failure, ok } from '../types.ts';
import { classifyGraphError, retryAfterFromDetails } from './errors.ts';
import { normalizePermissionReply } from './permission-status.ts';

// Not `import http from 'node:http'`: an ES import of node:http reads every export, WebSocket included, which loads
// Node's bundled undici (~45 ms and a few MB at start-up); the CommonJS object has the same functions.
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

export interface MetaClientOptions {
  baseUrl: string;
  version: string;
  timeoutMs: number;
  secretsOf(number: NumberRecord): MetaSecrets;
  logger: Logger;
  now?: () => number;
  /**
   * Told when a Graph answer changes what we know of the number's connection: OPEN after a success, CLOSED after
   * an auth failure (the token was revoked or expired). The service keeps it as the number's Pilot `state`.
   */
  onConnectionState?(number: NumberRecord, state: 'OPEN' | 'CLOSED'): void;
}

interface GraphError {
  code?: number;
  message?: string;
  error_data?: { details?: string };
  fbtrace_id?: string;
}
type Json = Record<string, unknown>;
/** The number a request is about and its token (read only when the request is made). */
interface GraphTarget {
  phoneNumberId: string | null;
  accessToken(): string;
}

/** How a request may be repeated and how its errors read (docs/spec/providers-meta.md §1.1, §2.3). */
interface RequestPolicy {
  ending: boolean;
  retries: 0 | 1;
  needsSuccessFlag: boolean;
  /** The token is the caller's, not one of ours yet (registration): Graph refusing it is logged as their mistake. */
  callersToken?: true;
}

/** A retry with less time left than this would only time out. */
const MIN_RETRY_MS = 50;
/** Connection errors that mean the request never left. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

const ENDING: RequestPolicy = { ending: true, retries: 1, needsSuccessFlag: true };
const ONCE: RequestPolicy = { ending: false, retries: 0, needsSuccessFlag: true };
const READ: RequestPolicy = { ending: false, retries: 1, needsSuccessFlag: false };
const CONNECT: RequestPolicy = { ending: false, retries: 0, needsSuccessFlag: false };
const VERIFY: RequestPolicy = { ...READ, callersToken: true };

export class MetaProvider implements CallProvider, MetaCallingFeatures {
  readonly #o: MetaClientOptions;
  constructor(options: MetaClientOptions) {
    this.#o = options;
  }

  async endCall(number: NumberRecord, call: Call, action: 'reject' | 'terminate'): Promise<ProviderResult> {
    // A repeated terminate/reject is harmless (worst case: "already ended"), so one retry when Meta is down.
    return unit(await this.#request(number, 'POST', 'calls', { call_id: call.externalCallId, action }, ENDING));
  }

  reject(number: NumberRecord, call: Call): Promise<ProviderResult> {
    return this.endCall(number, call, 'reject');
  }

  async accept(number: NumberRecord, call: Call, sdpAnswer: string | null): Promise<ProviderResult> {
    // Never retried: a replayed accept may act twice.
    const body = {
      call_id: call.externalCallId,
      action: 'accept',
      session: { sdp_type: 'answer', sdp: canonicalSdp(sdpAnswer ?? '') },
    };
    return unit(await this.#request(number, 'POST', 'calls', body, ONCE));
  }

  async preAccept(number: NumberRecord, call: Call, sdpAnswer: string): Promise<ProviderResult> {
    const body = {
      call_id: call.externalCallId,
      action: 'pre_accept',
      session: { sdp_type: 'answer', sdp: canonicalSdp(sdpAnswer) },
    };
    return unit(await this.#request(number, 'POST', 'calls', body, ONCE));
  }

  async start(number: NumberRecord, request: StartCallRequest): Promise<ProviderResult<{ externalCallId: string }>> {
    // Never retried: a replayed connect can ring the user a second time.
    const body: Json = {
      to: request.to.replace(/\D/g, ''),
      action: 'connect',
      session: { sdp_type: 'offer', sdp: canonicalSdp(request.sdp ?? '') },
    };
    if (request.bizOpaqueCallbackData !== null) {
      body.biz_opaque_callback_data = request.bizOpaqueCallbackData;
    }
    const result = await this.#request(number, 'POST', 'calls', body, CONNECT);
    if (!result.ok) {
      return result;
    }
    const calls = (result.value as { calls?: { id?: unknown }[] }).calls;
    const id = Array.isArray(calls) && typeof calls[0]?.id === 'string' ? calls[0].id : null;
    return id
      ? { ok: true, value: { externalCallId: id } }
      : failure('PROVIDER_DOWN', 'Meta answered connect without a call id');
  }

  getSettings(number: NumberRecord): Promise<ProviderResult<Json>> {
    return this.#request(number, 'GET', 'settings', undefined, READ);
  }

  async updateSettings(number: NumberRecord, settings: Json): Promise<ProviderResult> {
    return unit(await this.#request(number, 'POST', 'settings', settings, ONCE));
  }

  async getPermissions(number: NumberRecord, waId: string): Promise<ProviderResult<Json>> {
    const path = `call_permissions?user_wa_id=${encodeURIComponent(waId)}`;
    const result = await this.#request(number, 'GET', path, undefined, READ);
    return result.ok ? { ok: true, value: normalizePermissionReply(result.value) } : result;
  }

  async requestPermission(
    number: NumberRecord,
    waId: string,
    text: string | null,
  ): Promise<ProviderResult<{ messageId: string }>> {
    const interactive: Json = { type: 'call_permission_request', action: { name: 'call_permission_request' } };
    if (text) {
      interactive.body = { text };
    }
    const body = { recipient_type: 'individual', to: waId, type: 'interactive', interactive };
    const result = await this.#request(number, 'POST', 'messages', body, { ...ONCE, needsSuccessFlag: false });
    if (!result.ok) {
      return result;
    }
    const messages = (result.value as { messages?: { id?: unknown }[] }).messages;
    const id = Array.isArray(messages) && typeof messages[0]?.id === 'string' ? messages[0].id : null;
    return id ? { ok: true, value: { messageId: id } } : failure('PROVIDER_DOWN', 'Meta answered without a message id');
  }

  /**
   * Whether `accessToken` reaches `phoneNumberId`, asked before a number is stored: a token of another business,
   * or none at all, must not claim a number (the webhooks for an id go to the one number that holds it). The read is
   * the number's settings (§1.4), the cheapest Graph request about the number itself this adapter makes. Nothing
   * is learned about a stored number from it, so no connection state is reported.
   */
  async verifyNumber(phoneNumberId: string, accessToken: string): Promise<ProviderResult> {
    return unit(
      await this.#send({ phoneNumberId, accessToken: () => accessToken }, 'GET', 'settings', undefined, VERIFY),
    );
  }

  async #request(
    number: NumberRecord,
    method: 'GET' | 'POST',
    edge: string,
    body: Json | undefined,
    policy: RequestPolicy,
  ): Promise<ProviderResult<Json>> {
    const target = {
      phoneNumberId: number.metaPhoneNumberId,
      accessToken: () => this.#o.secretsOf(number).accessToken,
    };
    const result = await this.#send(target, method, edge, body, policy);
    this.#noteConnection(number, result);
    return result;
  }

  async #send(
    target: GraphTarget,
    method: 'GET' | 'POST',
    edge: string,
    body: Json | undefined,
    policy: RequestPolicy,
  ): Promise<ProviderResult<Json>> {
    // One deadline for the whole action, retry included: a hung Graph API costs PROVIDER_TIMEOUT_MS, not twice that.
    const deadline = Date.now() + this.#o.timeoutMs;
    let result = await this.#once(target, method, edge, body, policy, this.#o.timeoutMs);
    let mayHaveActed = !result.ok && result.mayHaveActed === true;
    // Meta took the try and failed its answer (a 5xx, an unreadable body): what it did is unknown (§2.3). A retry
    // hearing "already ended" then most likely heard of that try's doing, not of a user who hung up in between.
    let tookIt = mayHaveActed || answeredDown(result);
    for (let i = 0; i < policy.retries && !result.ok && result.category === 'PROVIDER_DOWN'; i++) {
      const left = deadline - Date.now();
      if (left < MIN_RETRY_MS) {
        break;
      }
      result = await this.#once(target, method, edge, body, policy, left);
      if (!result.ok && result.category === 'ALREADY_ENDED' && tookIt) {
        // The first attempt, unanswered or answered with a failure, is what ended the call: ours, not the peer's.
        return { ok: true, value: {} };
      }
      mayHaveActed ||= !result.ok && result.mayHaveActed === true;
      tookIt ||= mayHaveActed || answeredDown(result);
    }
    return !result.ok && mayHaveActed ? { ...result, mayHaveActed: true } : result;
  }

  #noteConnection(number: NumberRecord, result: ProviderResult<Json>): void {
    const state = result.ok ? 'OPEN' : result.category === 'AUTH' ? 'CLOSED' : null;
    // Only changes are reported: the stored state is on the number we were handed.
    const known = number.publicConfig.state ?? 'OPEN';
    if (state !== null && state !== known) {
      this.#o.onConnectionState?.(number, state);
    }
  }

  async #once(
    target: GraphTarget,
    method: 'GET' | 'POST',
    edge: string,
    body: Json | undefined,
    policy: RequestPolicy,
    timeoutMs: number,
  ): Promise<ProviderResult<Json>> {
    const phoneNumberId = target.phoneNumberId;
    if (!phoneNumberId) {
      return failure('CONFIG', 'number has no Meta phone_number_id');
    }
    const url = `${this.#o.baseUrl}/${this.#o.version}/${encodeURIComponent(phoneNumberId)}/${edge}`;
    const accessToken = target.accessToken();
    let response: GraphAnswer;
    let text: string;
    try {
      response = await graphRequest(
        url,
        method,
        { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json' },
        // The calling and messages edges take messaging_product; the settings body is {"calling":{…}} alone (§1.4).
        body
          ? JSON.stringify(method === 'POST' && edge !== 'settings' ? { messaging_product: 'whatsapp', ...body } : body)
          : undefined,
        timeoutMs,
      );
      text = response.text;
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      // Refused before a byte was sent: nothing happened. Otherwise Meta may have acted without telling us.
      const neverSent = NOT_SENT.has((error as NodeJS.ErrnoException).code ?? '');
      return failure(
        'PROVIDER_DOWN',
        timedOut ? `Meta did not answer within ${timeoutMs} ms` : 'Meta could not be reached',
        null,
        neverSent ? {} : { mayHaveActed: true },
      );
    }
    let json: (Json & { success?: unknown; error?: GraphError }) | null = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* handled below */
    }
    if (response.status >= 500 || json === null || typeof json !== 'object') {
      return failure('PROVIDER_DOWN', `Meta answered HTTP ${response.status}`, json?.error?.code ?? null, {
        traceId: json?.error?.fbtrace_id,
        httpStatus: response.status,
      });
    }
    if (response.ok) {
      if (!policy.needsSuccessFlag || json.success === true) {
        return { ok: true, value: json };
      }
      return failure('PROVIDER_DOWN', 'Meta answered success:false');
    }
    const error = json.error ?? {};
    const code = typeof error.code === 'number' ? error.code : null;
    const category = classifyGraphError(code, response.status, policy.ending);
    const level = category === 'AUTH' && !policy.callersToken ? 'error' : 'warn';
    this.#o.logger[level](
      {
        providerCode: code,
        httpStatus: response.status,
        fbtraceId: error.fbtrace_id,
        category,
        edge: edge.split('?')[0],
      },
      'meta refused request',
    );
    const retryAfterSeconds =
      code === 138012 ? retryAfterFromDetails(error.error_data?.details, this.#o.now?.() ?? Date.now()) : undefined;
    const said = [error.message, error.error_data?.details].filter(Boolean).join(': ') || `HTTP ${response.status}`;
    const message = withoutToken(said, accessToken);
    return failure(category, message, code, {
      traceId: error.fbtrace_id,
      httpStatus: response.status,
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    });
  }
}

/**
 * Graph quotes a token it cannot parse ("Malformed access token EAAG…", as a pasted token with a stray character
 * gets): its message goes on to the logs and to the API's 502 details, where the number's credential must not.
 */
function withoutToken(message: string, accessToken: string): string {
  let out = message;
  for (const token of new Set([accessToken, accessToken.trim()])) {
    if (token.length > 0) {
      out = out.split(token).join('[redacted]');
    }
  }
  // Whatever else looks like a Meta token (EAA… and a long tail), in case Graph quoted it only in part.
  return out.replace(/\bEAA[A-Za-z0-9]{16,}/g, '[redacted]');
}

interface GraphAnswer {
  status: number;
  ok: boolean;
  text: string;
}

// node:http with keep-alive rather than fetch: a third of the CPU per request, which matters on the
// terminate path (docs/benchmarks.md).
const AGENTS = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

/** One request; the deadline covers the whole exchange and fails with a TimeoutError. */
function graphRequest(
  url: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<GraphAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    let settled = false;
    let timedOut = false;
    const finish = (error: Error | null, answer?: GraphAnswer) => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (error) {
        const failure = timedOut ? new Error(`no answer within ${timeoutMs} ms`) : error;
        if (timedOut) {
          failure.name = 'TimeoutError';
        }
        reject(failure);
      } else if (answer) {
        resolve(answer);
      }
    };
    const req = (secure ? https : http).request(
      target,
      {
        method,
        agent: secure ? AGENTS.https : AGENTS.http,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          finish(null, { status, ok: status >= 200 && status < 300, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (error) => finish(error));
        res.on('close', () => finish(new Error('connection closed before the response ended')));
      },
    );
    const timer = setTimeout(() => {
      // Timers run before I/O in an event-loop turn: after a stall (a busy or descheduled process) the answer may be
      // sitting in the socket already. Read it first (setImmediate runs after the poll phase); give up only then.
      setImmediate(() => {
        if (!settled) {
          timedOut = true;
          req.destroy(new Error('timeout'));
        }
      });
    }, timeoutMs);
    req.on('error', (error) => finish(error));
    req.end(body);
  });
}

/** Meta answered, with a failure of its own (HTTP 5xx, a body that is no JSON, a server-error code). */
function answeredDown(result: ProviderResult<Json>): boolean {
  return !result.ok && result.category === 'PROVIDER_DOWN' && result.httpStatus !== undefined;
}

function unit(result: ProviderResult<Json>): ProviderResult {
  return result.ok ? ok : result;
}
