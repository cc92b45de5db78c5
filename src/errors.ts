// One catalogue of the spec's error codes: status and the one human text per code.
// The YAML's own cases keep its texts exactly.
export const ERRORS = {
  VALIDATION_ERROR: { status: 400, text: 'Validation error' },
  FEATURE_NOT_SUPPORTED: { status: 400, text: 'This feature is not supported for this number' },
  NUMBER_REQUIRED: { status: 400, text: 'A tenant-scoped key must name whatsappNumberId' },
  NUMBER_MISMATCH: { status: 400, text: "whatsappNumberId does not match the key's number" },
  UNAUTHORIZED: { status: 401, text: 'Unauthorized' },
  TENANT_SCOPE_NOT_ALLOWED: { status: 403, text: 'Tenant-scoped keys cannot call number endpoints' },
  NUMBER_SCOPE_NOT_ALLOWED: { status: 403, text: 'Number-scoped keys cannot call tenant endpoints' },
  FORBIDDEN: { status: 403, text: 'Forbidden' },
  META_CALL_PERMISSION_REQUIRED: {
    status: 403,
    text: 'The user has not granted permission to be called: ask with POST /v1/calls/permissions/request, then call once they accept',
  },
  NOT_FOUND: { status: 404, text: 'Route not found' },
  NOT_IMPLEMENTED_IN_CALLGATE: { status: 404, text: 'This Pilot Status route is not offered by callgate' },
  CALL_NOT_FOUND: { status: 404, text: 'Call not found' },
  NUMBER_NOT_FOUND: { status: 404, text: 'Number not found' },
  WEBHOOK_NOT_FOUND: { status: 404, text: 'Webhook not found' },
  EVENT_NOT_FOUND: { status: 404, text: 'Event not found' },
  RECORDING_NOT_FOUND: { status: 404, text: 'Recording not found' },
  METHOD_NOT_ALLOWED: { status: 405, text: 'Method not allowed' },
  CALL_STATE_CONFLICT: { status: 409, text: 'The call is not in a state that allows this action' },
  NUMBER_CONFLICT: { status: 409, text: 'A number with this provider id already exists' },
  NUMBER_HAS_LIVE_CALLS: {
    status: 409,
    text: 'The number has calls in progress: end them (terminate), then delete the number; ?force=true deletes it with calls a provider can no longer end',
  },
  API_KEY_EXISTS: { status: 409, text: 'This number already has an API key; regenerate it instead' },
  WHATSAPP_INSTANCE_NOT_CONNECTED: { status: 409, text: 'The WhatsApp instance is not connected' },
  WEBHOOK_LIMIT_REACHED: {
    status: 409,
    text: 'This number already has the most webhooks allowed (WEBHOOKS_PER_NUMBER)',
  },
  IDEMPOTENCY_IN_PROGRESS: { status: 409, text: 'A request with this Idempotency-Key is still in progress' },
  REQUEST_TIMEOUT: { status: 408, text: 'Request timeout' },
  PAYLOAD_TOO_LARGE: { status: 413, text: 'Request body too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, text: 'Unsupported content type' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, text: 'Idempotency-Key was already used with a different request' },
  RATE_LIMITED: { status: 429, text: 'Too many requests' },
  HEADERS_TOO_LARGE: { status: 431, text: 'Request headers too large' },
  RANGE_NOT_SATISFIABLE: { status: 416, text: 'The requested range is outside the recording' },
  META_CALL_PERMISSION_REQUEST_LIMIT: { status: 429, text: 'Call permission request limit reached for this user' },
  INTERNAL_ERROR: { status: 500, text: 'Internal error' },
  PROVIDER_ERROR: { status: 502, text: 'The provider refused the request' },
  PROVIDER_UNAVAILABLE: { status: 502, text: 'The provider is unavailable; the request is safe to retry' },
  SERVICE_UNAVAILABLE: { status: 503, text: 'Service temporarily unavailable' },
  STORE_UNAVAILABLE: { status: 503, text: 'The store cannot take writes right now; retry later' },
  MEDIA_CAPACITY: { status: 503, text: 'The media engine is disabled or has no free session' },
} as const satisfies Record<string, { status: number; text: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;
  constructor(
    code: ErrorCode,
    opts: { message?: string; details?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(opts.message ?? ERRORS[code].text);
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = opts.details;
    this.headers = opts.headers;
  }
}
