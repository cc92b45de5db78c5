import type { FastifyRequest } from 'fastify';
import { ActionResponse, AnswerBody, CallIdParams } from '../../schemas/call.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

const schema = {
  tags: ['Calls'],
  summary: 'Accept an inbound call',
  operationId: 'acceptCall',
  description:
    'Answers a ringing inbound call. On META and SANDBOX numbers `sdp` is the SDP answer (CRLF line endings); without it ' +
    'callgate\'s media engine answers and holds the media (`media: "server"`; `record: true` records it).',
  security: NUMBER_SECURITY,
  params: CallIdParams,
  body: AnswerBody,
  response: {
    200: ActionResponse,
    ...errorResponses(
      'VALIDATION_ERROR',
      'FEATURE_NOT_SUPPORTED',
      'TENANT_SCOPE_NOT_ALLOWED',
      'META_CALL_PERMISSION_REQUIRED',
      'CALL_NOT_FOUND',
      'CALL_STATE_CONFLICT',
      'WHATSAPP_INSTANCE_NOT_CONNECTED',
      'PROVIDER_ERROR',
      'PROVIDER_UNAVAILABLE',
      'MEDIA_CAPACITY',
      // The store did not take the call's media row: nothing was sent (calls/server-media.ts).
      'SERVICE_UNAVAILABLE',
      ...AUTH_ERRORS,
    ),
  },
};

/** Accept and pre-accept without a body (web numbers, server media) mean `{}`: no SDP, the defaults. */
export async function noBodyIsEmpty(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) {
    request.body = {};
  }
}

export function acceptCallRoute(app: App, deps: RouteDeps): void {
  app.post(
    '/v1/calls/:callId/accept',
    {
      schema,
      config: { auth: 'number' },
      preValidation: noBodyIsEmpty,
    },
    async (request) => {
      const { sdp, record } = request.body;
      const result = await deps.calls.accept(numberOf(request), request.params.callId, sdp ?? null, { record });
      return { success: true as const, ...result };
    },
  );
}
