// One error handler and one envelope: {error, code, details?, requestId}. No stack ever leaves.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.ts';
import { type StoreFailureKind, storeFailureKind } from '../../store/unavailable.ts';

export function sendError(request: FastifyRequest, reply: FastifyReply, error: ApiError) {
  if (error.headers) {
    reply.headers(error.headers);
  }
  // Set here too: errors raised before routing (frameworkErrors) skip the app's onSend hook.
  reply.header('x-request-id', request.id);
  return reply
    .code(error.status)
    .type('application/json')
    .send({
      error: error.message,
      code: error.code,
      ...(error.details ? { details: error.details } : {}),
      requestId: request.id,
    });
}

/** Where the problem is: a missing or unexpected property is pointed at by name, not by its parent object. */
function issuePath(instancePath: string, params: Record<string, unknown>): string {
  const property = params.missingProperty ?? params.additionalProperty;
  return typeof property === 'string' ? `${instancePath}/${property}` : instancePath || '/';
}

/**
 * Issues listed in one answer. Ajv reports every problem (allErrors), and a body of 80,000 unknown properties has
 * 80,000: the first ones are enough to fix a request, and the answer stays small.
 */
export const MAX_VALIDATION_ISSUES = 20;

function fromFastifyError(error: FastifyError): ApiError | null {
  if (error.validation) {
    const truncated = error.validation.length > MAX_VALIDATION_ISSUES;
    return new ApiError('VALIDATION_ERROR', {
      details: {
        issues: error.validation.slice(0, MAX_VALIDATION_ISSUES).map((v) => ({
          in: error.validationContext,
          path: issuePath(v.instancePath, v.params),
          message: v.message,
        })),
        ...(truncated ? { truncated: true } : {}),
      },
    });
  }
  const status = error.statusCode ?? 500;
  if (status === 413) {
    return new ApiError('PAYLOAD_TOO_LARGE');
  }
  if (status === 415) {
    return new ApiError('UNSUPPORTED_MEDIA_TYPE');
  }
  if (status === 405) {
    return new ApiError('METHOD_NOT_ALLOWED');
  }
  if (status === 404) {
    return new ApiError('NOT_FOUND');
  }
  // Malformed JSON, bad headers, invalid URL encoding...: the client's fault, said plainly. Fastify's message may quote
  // the input (a whole over-long path parameter): its middle is cut so the answer stays small and keeps the why.
  if (status >= 400 && status < 500) {
    return new ApiError('VALIDATION_ERROR', { details: { reason: clippedReason(error.message) } });
  }
  return null;
}

const MAX_REASON_CHARS = 300;

/** A reason for the error envelope, its middle cut when long. */
export function clippedReason(text: string): string {
  if (text.length <= MAX_REASON_CHARS) {
    return text;
  }
  const half = MAX_REASON_CHARS / 2;
  return `${text.slice(0, half)}…${text.slice(-half)}`;
}

/** Seconds a client should wait before retrying a request the store could not take. */
export const STORE_RETRY_AFTER_SECONDS = 2;

export function storeUnavailable(): ApiError {
  return new ApiError('STORE_UNAVAILABLE', { headers: { 'retry-after': String(STORE_RETRY_AFTER_SECONDS) } });
}

export interface ErrorHandlingOptions {
  /** Told of every request that failed because the store could not take it (readiness reports it). */
  onStoreUnavailable?: (kind: StoreFailureKind) => void;
}

export function registerErrorHandling(app: FastifyInstance, opts: ErrorHandlingOptions = {}): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ApiError) {
      return sendError(request, reply, error);
    }
    // Disk full, I/O error, read-only, locked too long, connection lost: nothing was stored; retrying is safe.
    const kind = storeFailureKind(error);
    if (kind !== null) {
      request.log.error({ err: error.message }, 'store unavailable');
      opts.onStoreUnavailable?.(kind);
      return sendError(request, reply, storeUnavailable());
    }
    const mapped = fromFastifyError(error);
    if (mapped) {
      return sendError(request, reply, mapped);
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendError(request, reply, new ApiError('INTERNAL_ERROR'));
  });
  app.setNotFoundHandler((request, reply) => sendError(request, reply, new ApiError('NOT_FOUND')));
}
