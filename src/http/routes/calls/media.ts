import { ActionResponse, CallIdParams } from '../../schemas/call.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

const errors = errorResponses(
  'VALIDATION_ERROR',
  'FEATURE_NOT_SUPPORTED',
  'TENANT_SCOPE_NOT_ALLOWED',
  'CALL_NOT_FOUND',
  'CALL_STATE_CONFLICT',
  'WHATSAPP_INSTANCE_NOT_CONNECTED',
  'PROVIDER_ERROR',
  'PROVIDER_UNAVAILABLE',
  ...AUTH_ERRORS,
);

/** Web numbers only: audio into the call, and a realtime media session on the Evolution Go server. */
export function callMediaRoutes(app: App, deps: RouteDeps): void {
  app.post(
    '/v1/calls/:callId/play',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: 'Play audio into a call (EVO_GO)',
        operationId: 'playIntoCall',
        description: 'Queued until the call is active; no completion event.',
        security: NUMBER_SECURITY,
        params: CallIdParams,
        body: Type.Object(
          { mediaUrl: Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 }) },
          { additionalProperties: false },
        ),
        response: { 200: ActionResponse, ...errors },
      },
    },
    async (request) => ({
      success: true as const,
      ...(await deps.calls.play(numberOf(request), request.params.callId, request.body.mediaUrl)),
    }),
  );

  app.post(
    '/v1/calls/:callId/realtime-session',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: 'Open a realtime media session (EVO_GO)',
        operationId: 'createRealtimeSession',
        description: 'A short-lived, single-use token for the Evolution Go media WebSocket of the call.',
        security: NUMBER_SECURITY,
        params: CallIdParams,
        body: Type.Object({ mode: Type.Enum(['talk', 'listen']) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ wsUrl: Type.String(), token: Type.String(), expiresInSeconds: Type.Integer() }),
          ...errors,
        },
      },
    },
    async (request) => deps.calls.realtimeSession(numberOf(request), request.params.callId, request.body.mode),
  );
}
