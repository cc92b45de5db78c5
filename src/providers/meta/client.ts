// The Graph API client for calling: one POST /{phone_number_id}/calls endpoint, actions chosen by `action`.
import type { Logger } from 'pino';
import type { Call } from '../../calls/types.ts';
import type { NumberRecord } from '../../store/numbers.ts';
import type { CallProvider, MetaSecrets, ProviderResult } from '../types.ts';
import { failure, ok } from '../types.ts';
import { classifyGraphError, retryAfterFromDetails } from './errors.ts';

export interface MetaClientOptions {
  baseUrl: string;
  version: string;
  timeoutMs: number;
  secretsOf(number: NumberRecord): MetaSecrets;
  logger: Logger;
  now?: () => number;
}

interface GraphError { code?: number; message?: string; error_data?: { details?: string }; fbtrace_id?: string }

export class MetaProvider implements CallProvider {
  readonly #o: MetaClientOptions;
  constructor(options: MetaClientOptions) { this.#o = options; }

  endCall(number: NumberRecord, call: Call, action: 'reject' | 'terminate'): Promise<ProviderResult> {
    // A repeated terminate/reject is harmless (worst case: "already ended"), so one retry when Meta is down.
    return this.#callsAction(number, { call_id: call.externalCallId, action }, { ending: true, retries: 1 });
  }

  reject(number: NumberRecord, call: Call): Promise<ProviderResult> {
    return this.endCall(number, call, 'reject');
  }

  accept(number: NumberRecord, call: Call, sdpAnswer: string | null): Promise<ProviderResult> {
    const body: Record<string, unknown> = { call_id: call.externalCallId, action: 'accept', session: { sdp_type: 'answer', sdp: toCrlf(sdpAnswer ?? '') } };
    // Never retried: a replayed accept may act twice.
    return this.#callsAction(number, body, { ending: false, retries: 0 });
  }

  async #callsAction(number: NumberRecord, body: Record<string, unknown>, opts: { ending: boolean; retries: number }): Promise<ProviderResult> {
    let result: ProviderResult = await this.#post(number, 'calls', { messaging_product: 'whatsapp', ...body }, opts.ending);
    for (let i = 0; i < opts.retries && !result.ok && result.category === 'PROVIDER_DOWN'; i++) {
      result = await this.#post(number, 'calls', { messaging_product: 'whatsapp', ...body }, opts.ending);
    }
    return result;
  }

  async #post(number: NumberRecord, edge: string, body: unknown, ending: boolean): Promise<ProviderResult> {
    const phoneNumberId = number.metaPhoneNumberId;
    if (!phoneNumberId) return failure('CONFIG', 'number has no Meta phone_number_id');
    const url = `${this.#o.baseUrl}/${this.#o.version}/${encodeURIComponent(phoneNumberId)}/${edge}`;
    const { accessToken } = this.#o.secretsOf(number);
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      return failure('PROVIDER_DOWN', timedOut ? `Meta did not answer within ${this.#o.timeoutMs} ms` : 'Meta could not be reached');
    }
    let json: { success?: boolean; error?: GraphError } | null = null;
    try { json = JSON.parse(text); } catch { /* handled below */ }
    if (response.status >= 500 || json === null || typeof json !== 'object') {
      return failure('PROVIDER_DOWN', `Meta answered HTTP ${response.status}`, json?.error?.code ?? null, { traceId: json?.error?.fbtrace_id });
    }
    if (response.ok) {
      if (json.success === true) return ok;
      return failure('PROVIDER_DOWN', 'Meta answered success:false');
    }
    const error = json.error ?? {};
    const code = typeof error.code === 'number' ? error.code : null;
    const category = classifyGraphError(code, response.status, ending);
    this.#o.logger.warn({ providerCode: code, httpStatus: response.status, fbtraceId: error.fbtrace_id, category }, 'meta refused request');
    const retryAfterSeconds = code === 138012 ? retryAfterFromDetails(error.error_data?.details, this.#o.now?.() ?? Date.now()) : undefined;
    return failure(category, error.message ?? `HTTP ${response.status}`, code,
      { traceId: error.fbtrace_id, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });
  }
}

/** Meta wants RFC 8866 SDP with CRLF line endings; clients often send bare LF. */
export function toCrlf(sdp: string): string {
  const text = sdp.replace(/\r?\n/g, '\r\n');
  return text.endsWith('\r\n') ? text : `${text}\r\n`;
}
