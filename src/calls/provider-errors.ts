import { ApiError, type ErrorCode } from '../errors.ts';
import { type Call, isTerminal } from '../model/call.ts';
import type { ProviderFailure, ProviderWording } from '../providers/types.ts';

/**
 * One text per code, except where the number's adapter says why in its own words (web numbers:
 * docs/spec/providers-evolution-go.md §2.3). That sentence is about the web server's calls extension, so where the
 * feature is missing whatever the extension does, `reason` says what is missing.
 */
export function featureNotSupported(adapter: ProviderWording = {}, reason?: string): ApiError {
  const message = adapter.notSupportedMessage;
  return new ApiError('FEATURE_NOT_SUPPORTED', {
    ...(message ? { message } : {}),
    ...(reason ? { details: { reason } } : {}),
  });
}

/** Pre-accept, permissions and call settings: steps of Meta's Cloud API calling, which the sandbox imitates. */
export const META_MODEL_ONLY = 'this is for META and SANDBOX numbers only (a step of Meta’s Cloud API calling)';

/**
 * play, stop-play and realtime-session on a META or SANDBOX call whose media callgate does not hold: the number
 * has the feature, the call does not. The code stays (clients match it); the text says what is wrong with the call
 * rather than the number's generic "not supported for this number", and the reason says how a call gets it.
 */
export function noServerMedia(call: Pick<Call, 'status' | 'direction'>): ApiError {
  return new ApiError('FEATURE_NOT_SUPPORTED', {
    message: isTerminal(call.status)
      ? 'This call ended without callgate ever holding its audio'
      : call.status === 'RINGING' && call.direction === 'INBOUND'
        ? 'This call is still ringing: callgate holds its audio only once it is answered without an sdp'
        : 'callgate does not hold this call’s audio: your own SDP carries it',
    details: {
      reason:
        'callgate holds a call’s audio only once it is answered without an sdp (accept or pre-accept), and this ' +
        'call was not (it is ringing, was answered with your own SDP, or ended before)',
    },
  });
}

/**
 * The provider's code and words for an error's details. A failure with no code of the provider's (the sandbox's
 * own limit, a network failure, a body without one) leaves providerCode out rather than sending it as null.
 */
export function providerDetails(f: Pick<ProviderFailure, 'providerCode' | 'providerMessage'>): {
  providerCode?: string | number;
  providerMessage: string;
} {
  return { ...(f.providerCode !== null ? { providerCode: f.providerCode } : {}), providerMessage: f.providerMessage };
}

/**
 * What a failed provider action means for our API. Terminate knows only the two 502s
 * (docs/spec/calls-api.md §4.8): a provider 429 must never look like our own rate limit.
 */
export function providerError(
  f: ProviderFailure,
  action: 'terminate' | 'other',
  adapter: ProviderWording = {},
): ApiError {
  const details = providerDetails(f);
  if (f.category === 'PROVIDER_DOWN') {
    return new ApiError('PROVIDER_UNAVAILABLE', { details });
  }
  if (f.category === 'NOT_SUPPORTED') {
    return featureNotSupported(adapter);
  }
  if (action === 'terminate') {
    return new ApiError('PROVIDER_ERROR', { details });
  }
  if (adapter.isCallersMistake?.(f)) {
    return new ApiError('VALIDATION_ERROR', { details: { reason: f.providerMessage } });
  }
  const byCategory: Partial<Record<ProviderFailure['category'], ErrorCode>> = {
    PERMISSION_REQUIRED: 'META_CALL_PERMISSION_REQUIRED',
    RATE_LIMITED: 'RATE_LIMITED',
    PERMISSION_REQUEST_LIMIT: 'META_CALL_PERMISSION_REQUEST_LIMIT',
    NOT_CONNECTED: 'WHATSAPP_INSTANCE_NOT_CONNECTED',
    STATE_CONFLICT: 'CALL_STATE_CONFLICT',
  };
  const code = byCategory[f.category];
  if (!code) {
    return new ApiError('PROVIDER_ERROR', { details });
  }
  const retry = f.retryAfterSeconds;
  // Every 429 carries Retry-After (calls-api §6): where the provider named no time, the one its limit implies.
  const implied = code === 'RATE_LIMITED' ? adapter.rateLimitRetryAfterSeconds : undefined;
  const retryAfter = retry ?? implied ?? DEFAULT_RETRY_AFTER_SECONDS[code];
  return new ApiError(code, {
    details: { ...details, ...(retry !== undefined ? { retryAfterSeconds: retry } : {}) },
    ...(retryAfter !== undefined ? { headers: { 'retry-after': String(retryAfter) } } : {}),
  });
}

/**
 * A provider's limit that named no time, where its adapter implies none of its own (ProviderWording): Meta's
 * per-number rates are per second (613, 138005) or free up when a call ends (138002), so a few seconds; its
 * permission requests are 1 per user a day (138009, providers-meta §1.5).
 */
const DEFAULT_RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = {
  RATE_LIMITED: 5,
  META_CALL_PERMISSION_REQUEST_LIMIT: 86_400,
};
