import { ActionResponse, AnswerBody, CallIdParams } from '../../schemas/call.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';
import { noBodyIsEmpty } from './accept.ts';

export function preAcceptCallRoute(app: App, deps: RouteDeps): void {
  app.post(
    '/v1/calls/:callId/pre-accept',
    {
      config: { auth: 'number' },
      preValidation: noBodyIsEmpty,
      schema: {
        tags: ['Calls'],
        summary: 'Pre-accept an inbound call (META, SANDBOX)',
        operationId: 'preAcceptCall',
        description:
          'Sends the SDP answer early so media can set up; the call keeps ringing and the SDP is kept for accept. ' +
          "Without `sdp`, callgate's media engine makes the answer (server media). Meta takes one pre-accept per " +
          'call: a repeat with the same answer (or again without `sdp` on server media) is a 200 sending nothing; ' +
          'another answer is a 409.',
        security: NUMBER_SECURITY,
        params: CallIdParams,
        body: AnswerBody,
        response: {
          200: ActionResponse,
          ...errorResponses(
            'VALIDATION_ERROR',
            'FEATURE_NOT_SUPPORTED',
            'TENANT_SCOPE_NOT_ALLOWED',
            'CALL_NOT_FOUND',
            'CALL_STATE_CONFLICT',
            'PROVIDER_ERROR',
            'PROVIDER_UNAVAILABLE',
            'MEDIA_CAPACITY',
            // The store did not take the call's media row: nothing was sent (calls/server-media.ts).
            'SERVICE_UNAVAILABLE',
            ...AUTH_ERRORS,
          ),
        },
      },
    },
    async (request) => ({
      success: true as const,
      ...(await deps.calls.preAccept(numberOf(request), request.params.callId, request.body.sdp ?? null, {
        record: request.body.record,
      })),
    }),
  );
}
