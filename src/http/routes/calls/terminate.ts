import { ActionResponse, CallIdParams } from '../../schemas/call.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

const schema = {
  tags: ['Calls'],
  summary: 'Terminate call',
  description:
    'Hangs up an active call (no body). {callId} accepts id or the provider call id. Persists status COMPLETED; ' +
    'the call.ended webhook carries the duration when the call was answered. A call that already ended answers 200 with ' +
    'its terminal status and alreadyEnded:true, and nothing is sent. Meta and web numbers. **Requires a number-scoped key.**',
  operationId: 'post_calls_callId_terminate',
  security: NUMBER_SECURITY,
  params: CallIdParams,
  response: {
    200: ActionResponse,
    ...errorResponses(
      'VALIDATION_ERROR',
      'FEATURE_NOT_SUPPORTED',
      'TENANT_SCOPE_NOT_ALLOWED',
      'CALL_NOT_FOUND',
      'PROVIDER_ERROR',
      'PROVIDER_UNAVAILABLE',
      ...AUTH_ERRORS,
    ),
  },
};

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
      { schema, config: { auth: 'number', rateLimit: 'terminate', idempotency: 'wait-concurrent' } },
      async (request) => {
        const result = await deps.calls.terminate(numberOf(request), request.params.callId);
        return { success: true as const, ...result };
      },
    );
  });
}
