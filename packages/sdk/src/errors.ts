// Every failure of the client is a CallgateError: the server's envelope ({error, code, details, requestId})
// plus the HTTP status, or a local cause (timeout, network) with status 0.
import type { ErrorCode } from './generated/error-codes.ts';

export type { ErrorCode };
/** Codes the client raises itself, when no usable answer came from the server. */
export type ClientErrorCode = 'TIMEOUT' | 'NETWORK_ERROR' | 'ABORTED' | 'INVALID_RESPONSE' | 'REDIRECTED';

export interface CallgateErrorInit {
  message: string;
  code: ErrorCode | ClientErrorCode | (string & {});
  status: number;
  requestId?: string | null;
  details?: Record<string, unknown> | null;
  /** Seconds from a Retry-After header, when the answer had one. */
  retryAfterSeconds?: number | null;
  cause?: unknown;
}

export class CallgateError extends Error {
  override name = 'CallgateError';
  /** The server's stable code (`CALL_NOT_FOUND`, `RATE_LIMITED`, ...) or one of ClientErrorCode. */
  readonly code: ErrorCode | ClientErrorCode | (string & {});
  /** HTTP status; 0 when no response was received. */
  readonly status: number;
  /** The server's x-request-id: quote it when asking for help. */
  readonly requestId: string | null;
  readonly details: Record<string, unknown> | null;
  readonly retryAfterSeconds: number | null;

  constructor(init: CallgateErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.status = init.status;
    this.requestId = init.requestId ?? null;
    this.details = init.details ?? null;
    this.retryAfterSeconds = init.retryAfterSeconds ?? null;
  }
}

/** The envelope a server error carries, or null when the body is something else (a proxy's HTML page, say). */
export function parseErrorEnvelope(
  text: string,
): { error: string; code: string; details?: Record<string, unknown>; requestId?: string } | null {
  try {
    const body: unknown = JSON.parse(text);
    if (
      typeof body === 'object' &&
      body !== null &&
      typeof (body as { code?: unknown }).code === 'string' &&
      typeof (body as { error?: unknown }).error === 'string'
    ) {
      return body as { error: string; code: string; details?: Record<string, unknown>; requestId?: string };
    }
  } catch {
    /* not JSON */
  }
  return null;
}

/** Status codes with no envelope of ours get a code named after the status. */
export function codeForStatus(status: number): string {
  switch (status) {
    case 400:
      return 'VALIDATION_ERROR';
    case 401:
      return 'UNAUTHORIZED';
    case 404:
      return 'NOT_FOUND';
    case 429:
      return 'RATE_LIMITED';
    case 502:
      return 'BAD_GATEWAY';
    case 503:
      return 'SERVICE_UNAVAILABLE';
    case 504:
      return 'GATEWAY_TIMEOUT';
    default:
      return status >= 500 ? 'INTERNAL_ERROR' : `HTTP_${status}`;
  }
}
