// The provider port: the few verbs the call service needs, and the kinds of failure they report.
import type { Call } from '../model/call.ts';
import type { NumberRecord } from '../model/number.ts';

export const FAILURE_CATEGORIES = [
  'ALREADY_ENDED',
  'PERMISSION_REQUIRED',
  'RATE_LIMITED',
  'PERMISSION_REQUEST_LIMIT',
  'INVALID_REQUEST',
  'CONFIG',
  'AUTH',
  'PROVIDER_DOWN',
  'NOT_SUPPORTED',
  'NOT_CONNECTED',
  'STATE_CONFLICT',
] as const;
export type FailureCategory = (typeof FAILURE_CATEGORIES)[number];

export interface ProviderFailure {
  ok: false;
  category: FailureCategory;
  providerCode: string | number | null;
  providerMessage: string;
  retryAfterSeconds?: number;
  traceId?: string;
  /** The provider's HTTP status, when it answered at all (logs and metrics). */
  httpStatus?: number;
  /** The request may have reached the provider and been carried out: no answer in time, or the answer was cut. */
  mayHaveActed?: true;
}
export type ProviderResult<T = undefined> = { ok: true; value: T } | ProviderFailure;

/** Meta credentials, decrypted only for the request that needs them. */
export interface MetaSecrets {
  accessToken: string;
  appSecret: string;
  verifyToken: string;
}
export interface EvolutionSecrets {
  instanceToken: string;
  /** Set when a reverse proxy in front of the server adds X-Webhook-Secret: then every webhook must carry it. */
  webhookSecret?: string;
}

export interface StartCallRequest {
  to: string;
  sdp: string | null;
  bizOpaqueCallbackData: string | null;
}

/**
 * What an ending action's success proves. `providerConfirmed: false`: the provider accepted the request without
 * waiting for WhatsApp (Evolution's /call/reject), so only its own end event will confirm it. Absent: confirmed.
 */
export interface EndOutcome {
  providerConfirmed: boolean;
}

/** An adapter's own words for the API, where the catalogue's default text would say less. */
export interface ProviderWording {
  /** The sentence FEATURE_NOT_SUPPORTED carries on this provider's numbers. */
  readonly notSupportedMessage?: string;
  /** True for a refusal the API caller must fix (a 400 VALIDATION_ERROR), not the provider's failure (a 502). */
  isCallersMistake?(failure: ProviderFailure): boolean;
  /** The Retry-After its rate limits imply, for a 429 that named no time (absent: a few seconds, Meta's rates). */
  readonly rateLimitRetryAfterSeconds?: number;
}

export interface CallProvider extends ProviderWording {
  endCall(
    number: NumberRecord,
    call: Call,
    action: 'reject' | 'terminate',
  ): Promise<ProviderResult<EndOutcome | undefined>>;
  accept(number: NumberRecord, call: Call, sdpAnswer: string | null): Promise<ProviderResult>;
  reject(number: NumberRecord, call: Call): Promise<ProviderResult<EndOutcome | undefined>>;
  /** Places a business-initiated call; answers the provider's call id. */
  start(
    number: NumberRecord,
    request: StartCallRequest,
  ): Promise<ProviderResult<{ externalCallId: string; providerData?: Record<string, unknown> }>>;
}

/** Meta-only calling features (settings, permissions, pre-accept). */
export interface MetaCallingFeatures {
  preAccept(number: NumberRecord, call: Call, sdpAnswer: string): Promise<ProviderResult>;
  getSettings(number: NumberRecord): Promise<ProviderResult<Record<string, unknown>>>;
  updateSettings(number: NumberRecord, settings: Record<string, unknown>): Promise<ProviderResult>;
  getPermissions(number: NumberRecord, waId: string): Promise<ProviderResult<Record<string, unknown>>>;
  requestPermission(
    number: NumberRecord,
    waId: string,
    text: string | null,
  ): Promise<ProviderResult<{ messageId: string }>>;
}

export const ok: ProviderResult = { ok: true, value: undefined };

export function failure(
  category: FailureCategory,
  providerMessage: string,
  providerCode: string | number | null = null,
  extra: Partial<Pick<ProviderFailure, 'retryAfterSeconds' | 'traceId' | 'httpStatus' | 'mayHaveActed'>> = {},
): ProviderFailure {
  return { ok: false, category, providerCode, providerMessage, ...extra };
}
