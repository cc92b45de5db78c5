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
  // A command forwarded to the process holding the call's media that did not answer (docs/media-engine.md).
  'SERVICE_UNAVAILABLE',
  ...AUTH_ERRORS,
);

/**
 * Audio into the call and a realtime media session: on web numbers through the Evolution Go server; on calls
 * whose media callgate holds (media: "server", META and SANDBOX numbers) through its own engine and WebSocket.
 */
export function callMediaRoutes(app: App, deps: RouteDeps): void {
  app.post(
    '/v1/calls/:callId/play',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: 'Play audio into a call (EVO_GO, server media)',
        operationId: 'playIntoCall',
        description:
          'Queued until the call is active; no completion event. On server-media calls the file (WAV, Ogg/Opus or ' +
          'MP3) is fetched and decoded first, so a bad URL or file is a 400 here; `clear: true` empties the queue. ' +
          '`stopOnKey: true` (server media only) lets a key the caller presses stop this file, playing or queued, ' +
          'and the other `stopOnKey` files queued with it (barge-in: an IVR prompt stops as the caller chooses).',
        security: NUMBER_SECURITY,
        params: CallIdParams,
        body: Type.Union([
          Type.Object(
            {
              mediaUrl: Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 }),
              stopOnKey: Type.Optional(
                Type.Boolean({ description: 'A key the caller presses stops this file (server media only)' }),
              ),
            },
            { additionalProperties: false },
          ),
          Type.Object({ clear: Type.Literal(true) }, { additionalProperties: false }),
        ]),
        response: { 200: ActionResponse, ...errors },
      },
    },
    async (request) => {
      const { body } = request;
      const result =
        'mediaUrl' in body
          ? await deps.calls.play(numberOf(request), request.params.callId, body.mediaUrl, {
              stopOnKey: body.stopOnKey === true,
            })
          : await deps.calls.stopPlay(numberOf(request), request.params.callId);
      return { success: true as const, ...result };
    },
  );

  app.delete(
    '/v1/calls/:callId/play',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: 'Stop playing (server media)',
        operationId: 'stopPlay',
        description: 'Stops what is playing and drops what `play` queued, on a call whose media callgate holds.',
        security: NUMBER_SECURITY,
        params: CallIdParams,
        response: { 200: ActionResponse, ...errors },
      },
    },
    async (request) => ({
      success: true as const,
      ...(await deps.calls.stopPlay(numberOf(request), request.params.callId)),
    }),
  );

  app.post(
    '/v1/calls/:callId/realtime-session',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: 'Open a realtime media session (EVO_GO, server media)',
        operationId: 'createRealtimeSession',
        description:
          'A short-lived, single-use token for the media WebSocket of the call. On server-media calls `wsUrl` is ' +
          "callgate's own socket, complete with the token; append `&format=pcm16` for raw PCM instead of Twilio " +
          'Media Streams messages. The token expires in 60 s; `listen` only receives.',
        security: NUMBER_SECURITY,
        params: CallIdParams,
        body: Type.Object({ mode: Type.Enum(['talk', 'listen']) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ wsUrl: Type.String(), token: Type.String(), expiresInSeconds: Type.Integer() }),
          ...errors,
        },
      },
    },
    async (request) => {
      const wsBase =
        deps.config.media.publicWsBaseUrl ?? `${request.protocol === 'https' ? 'wss' : 'ws'}://${request.host}`;
      return deps.calls.realtimeSession(numberOf(request), request.params.callId, request.body.mode, wsBase);
    },
  );
}
