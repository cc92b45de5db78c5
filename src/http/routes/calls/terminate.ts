import { ERRORS, type ErrorCode } from '../../../errors.ts';
import { ActionResponse, CallIdParams } from '../../schemas/call.ts';
import { AUTH_ERRORS, ErrorEnvelope, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

const schema = {
  tags: ['Calls'],
  summary: 'Terminate call',
  description:
    'Hangs up an active call (no body). {callId} accepts id or the provider call id. Persists status COMPLETED; ' +
    'the call.ended webhook carries the duration when the call was answered. A call that already ended answers 200 with ' +
    'its terminal status and alreadyEnded:true, and nothing is sent. Meta and web numbers. A provider call id ' +
    'containing "/" is URL-encoded as %2F. A 400 is VALIDATION_ERROR, or FEATURE_NOT_SUPPORTED where the number ' +
    'cannot end the call. **Requires a number-scoped key.**',
  operationId: 'post_calls_callId_terminate',
  security: NUMBER_SECURITY,
  // The parameter and the responses the Pilot contract defines read as it has them (docs/spec/terminate-call.openapi.yaml).
  params: Type.Object({
    callId: {
      ...CallIdParams.properties.callId,
      description: 'Pilot Status id (call_...) or provider call id (wacid / CallID).',
      examples: ['wacid.ABGG...'],
    },
  }),
  response: {
    200: {
      ...ActionResponse,
      description: 'Terminate',
      examples: [{ success: true, id: 'call_01HZX...', status: 'COMPLETED' }],
    },
    ...asTheContractHasThem(
      errorResponses(
        'VALIDATION_ERROR',
        'FEATURE_NOT_SUPPORTED',
        'TENANT_SCOPE_NOT_ALLOWED',
        'CALL_NOT_FOUND',
        'PROVIDER_ERROR',
        'PROVIDER_UNAVAILABLE',
        ...AUTH_ERRORS,
      ),
      {
        400: ['Invalid payload or parameters', 'VALIDATION_ERROR'],
        401: ['Missing or invalid `x-api-key` / `x-api-key-id` header', 'UNAUTHORIZED'],
        403: ['Tenant-scoped key used on a number-scoped endpoint', 'TENANT_SCOPE_NOT_ALLOWED'],
        429: ['Rate limit exceeded', 'RATE_LIMITED'],
      },
    ),
  },
};

/** The contract's description of a response, with the example of the code it names (instead of the listed codes). */
function asTheContractHasThem<T extends Record<number, object>>(
  responses: T,
  contract: Record<number, [description: string, code: ErrorCode]>,
): T {
  // Inline, not the shared $ref: a reference cannot carry its own example.
  const { $id: _shared, ...envelope } = ErrorEnvelope as typeof ErrorEnvelope & { $id?: string };
  const described: Record<number, object> = { ...responses };
  for (const [status, [description, code]] of Object.entries(contract)) {
    described[Number(status)] = { ...envelope, description, examples: [{ error: ERRORS[code].text, code }] };
  }
  return described as T;
}

export function terminateCallRoute(app: App, deps: RouteDeps): void {
  // The body is never parsed, not even a malformed one (docs/spec/calls-api.md §4.1): any content type is drained unread.
  app.register(async (scope: App) => {
    // Fastify answers 415 to a Content-Type it cannot parse before any parser runs: here it names the drain.
    scope.addHook('onRequest', (request, _reply, done) => {
      if (request.headers['content-type'] !== undefined) {
        request.headers['content-type'] = 'application/octet-stream';
      }
      done();
    });
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => {
      payload.resume();
      done(null, undefined);
    });
    scope.post(
      '/v1/calls/:callId/terminate',
      {
        schema,
        config: { auth: 'number', rateLimit: 'terminate', idempotency: 'wait-concurrent', bodyNeverParsed: true },
      },
      async (request) => {
        const result = await deps.calls.terminate(numberOf(request), request.params.callId);
        return { success: true as const, ...result };
      },
    );
  });
}
