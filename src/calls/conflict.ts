import { ApiError } from '../errors.ts';
import type { Call } from '../model/call.ts';

/** 409 with the status we hold: the call is not (or no longer) in a state the action needs. */
export function conflict(call: Call, message?: string): ApiError {
  return new ApiError('CALL_STATE_CONFLICT', { ...(message ? { message } : {}), details: { status: call.status } });
}

/** A conflict the provider reported, with the status we hold added like ours have it (calls-api.md §3). */
export function providerConflict(error: ApiError, call: Call): ApiError {
  return new ApiError('CALL_STATE_CONFLICT', { details: { ...error.details, status: call.status } });
}
