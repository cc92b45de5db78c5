import { sandboxMark } from '../../../calls/public-call.ts';
import type { Call } from '../../../model/call.ts';
import { answerOnStored } from '../../plugins/idempotency.ts';
import { CallStatusSchema } from '../../schemas/call.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

const body = Type.Object(
  {
    to: Type.String({ pattern: '^\\+?[1-9][0-9]{6,14}$', description: 'E.164 number to call' }),
    sdp: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 65_536,
        description: "SDP offer (CRLF line endings); omitted on META/SANDBOX, callgate's media engine makes it",
      }),
    ),
    record: Type.Optional(Type.Boolean({ description: 'Record a server-media call (stereo Ogg/Opus)' })),
    sdpType: Type.Optional(Type.Literal('offer')),
    bizOpaqueCallbackData: Type.Optional(Type.String({ maxLength: 512 })),
    maxDurationSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
  },
  { additionalProperties: false },
);

export function createCallRoute(app: App, deps: RouteDeps): void {
  app.post(
    '/v1/calls',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: 'Start a business-initiated call',
        operationId: 'createCall',
        description:
          'Places the call through the provider. On META and SANDBOX numbers the peer must have granted call permission.',
        security: NUMBER_SECURITY,
        body,
        response: {
          201: Type.Object({
            id: Type.String(),
            externalCallId: Type.String(),
            status: CallStatusSchema,
            sandbox: Type.Optional(
              Type.Literal(true, { description: 'Present on calls of SANDBOX numbers (simulated WhatsApp users)' }),
            ),
          }),
          ...errorResponses(
            'VALIDATION_ERROR',
            'FEATURE_NOT_SUPPORTED',
            'TENANT_SCOPE_NOT_ALLOWED',
            'META_CALL_PERMISSION_REQUIRED',
            'WHATSAPP_INSTANCE_NOT_CONNECTED',
            'IDEMPOTENCY_IN_PROGRESS',
            'IDEMPOTENCY_KEY_REUSED',
            'PROVIDER_ERROR',
            'PROVIDER_UNAVAILABLE',
            'MEDIA_CAPACITY',
            ...AUTH_ERRORS,
          ),
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const call = await deps.outbound.start(numberOf(request), {
        to: b.to,
        sdp: b.sdp ?? null,
        bizOpaqueCallbackData: b.bizOpaqueCallbackData ?? null,
        maxDurationSeconds: b.maxDurationSeconds ?? null,
        ...(b.record === undefined ? {} : { record: b.record }),
        // The call is placed at the provider: a retry of this key must find it even if this process dies before
        // answering, or it would place a second one.
        onStored: answerOnStored(request, reply, 201, created),
      });
      return reply.code(201).send(created(call));
    },
  );
}

/** The 201's body. */
function created(call: Call) {
  return { id: call.id, externalCallId: call.externalCallId, status: call.status, ...sandboxMark(call) };
}
