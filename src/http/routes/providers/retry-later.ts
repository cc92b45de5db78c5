// A provider webhook is answered 200 only once its events are committed: a provider never sends a 200'd webhook
// again. Whatever else went wrong becomes a 503 with Retry-After, which Meta and Evolution Go retry.
import type { FastifyBaseLogger } from 'fastify';
import { ApiError } from '../../../errors.ts';
import { isStoreUnavailable } from '../../../store/unavailable.ts';
import { STORE_RETRY_AFTER_SECONDS } from '../../plugins/errors.ts';

/** The error to throw for a failed provider webhook: the client's own errors as they are, the rest "retry later". */
export function retryLater(error: unknown, log: FastifyBaseLogger): unknown {
  if ((error instanceof ApiError && error.status < 500) || isStoreUnavailable(error)) {
    return error;
  }
  log.error({ err: error }, 'provider webhook not recorded; the provider will retry');
  return new ApiError('SERVICE_UNAVAILABLE', { headers: { 'retry-after': String(STORE_RETRY_AFTER_SECONDS) } });
}
