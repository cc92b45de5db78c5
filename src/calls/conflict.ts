import { ApiError } from '../errors.ts';
import type { Call } from '../model/call.ts';

/** 409 with the status we hold: the call is not (or no longer) in a state the action needs. */
export function conflict(call: Call, message?: string): ApiError {
  return new ApiError('CALL_STATE_CONFLICT', { ...(message ? { message } : {}), details: { status: call.status } });
}
