// Sandbox numbers: ring the number from a simulated WhatsApp user, and read what that user heard.
import { toPublicCall } from '../../../calls/public-call.ts';
import { DTMF_DIGITS_PATTERN } from '../../../media/rtc/index.ts';
import { ANSWER_MODES, MAX_AUDIO_CHARS } from '../../../providers/sandbox/settings.ts';
import { CallIdParams } from '../../schemas/call.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

const base = { tags: ['Sandbox'], security: NUMBER_SECURITY };

export const SimulatedCallBody = Type.Object(
  {
    from: Type.Optional(
      Type.String({ pattern: '^\\+?[1-9][0-9]{6,14}$', description: 'The simulated caller (a +99… one if omitted)' }),
    ),
    audio: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: MAX_AUDIO_CHARS,
        description:
          'What the caller says: tone:<Hz> (default tone:440), echo, silence, speech-sample, ' +
          'a data:audio/wav;base64 URL or an https URL of a WAV',
      }),
    ),
    hangupAfterSeconds: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 86_400, description: 'The caller hangs up this long after the answer' }),
    ),
    answer: Type.Optional(
      Type.Enum(ANSWER_MODES, { description: 'How this user answers when the business calls it back' }),
    ),
  },
  { additionalProperties: false },
);

const SessionSchema = Type.Object({
  sandbox: Type.Literal(true),
  callId: Type.String(),
  externalCallId: Type.String(),
  direction: Type.Enum(['INBOUND', 'OUTBOUND'] as const),
  user: Type.String({ description: 'The simulated user, E.164' }),
  audio: Type.String({ description: 'What the user says' }),
  media: Type.Enum(['new', 'connecting', 'connected', 'failed', 'closed'] as const),
  answered: Type.Boolean(),
  ended: Type.Boolean(),
  heard: Type.Object({
    frequencyHz: Type.Union([Type.Integer(), Type.Null()], {
      description: 'Dominant frequency of the last half second the user heard; null for silence',
    }),
    levelPercent: Type.Integer({ minimum: 0, maximum: 100, description: 'RMS level, percent of full scale' }),
  }),
  framesSent: Type.Integer(),
  packetsReceived: Type.Integer(),
});

export const SimulatedKeysBody = Type.Object(
  {
    digits: Type.String({
      minLength: 1,
      maxLength: 32,
      pattern: DTMF_DIGITS_PATTERN.source,
      description: 'Keys the user presses, in order: 0-9, *, #, A-D (100 ms each, 60 ms apart)',
    }),
  },
  { additionalProperties: false },
);

export function sandboxRoutes(app: App, deps: RouteDeps): void {
  app.post(
    '/v1/sandbox/calls',
    {
      config: { auth: 'number' },
      schema: {
        ...base,
        summary: 'Simulate an inbound call (SANDBOX)',
        operationId: 'createSandboxCall',
        description:
          "A simulated WhatsApp user calls the key's sandbox number with a real SDP offer; the call rings like a " +
          'Meta call (call.ringing, then answer with pre-accept/accept and an SDP answer).',
        body: SimulatedCallBody,
        response: {
          201: Type.Object({ sandbox: Type.Literal(true), call: Type.Ref('Call') }),
          ...errorResponses('VALIDATION_ERROR', 'FEATURE_NOT_SUPPORTED', 'TENANT_SCOPE_NOT_ALLOWED', ...AUTH_ERRORS),
        },
      },
    },
    async (request, reply) => {
      const call = await deps.sandbox.startInbound(numberOf(request), request.body);
      return reply.code(201).send({ sandbox: true, call: toPublicCall(call) });
    },
  );

  app.post(
    '/v1/sandbox/calls/:callId/dtmf',
    {
      config: { auth: 'number' },
      schema: {
        ...base,
        summary: "A sandbox call's simulated user presses keys",
        operationId: 'pressSandboxKeys',
        description:
          'The simulated user presses keypad keys, sent as RFC 4733 telephone events the way WhatsApp sends them. ' +
          'On a server-media call they reach realtime clients as `dtmf` messages. 409 while the user has no ' +
          'media connected, when the SDP answer did not take telephone-event, or while 64 keys still wait to be ' +
          'sent (5 go out a second).',
        params: CallIdParams,
        body: SimulatedKeysBody,
        response: {
          202: Type.Object({ sandbox: Type.Literal(true), callId: Type.String(), digits: Type.String() }),
          ...errorResponses(
            'VALIDATION_ERROR',
            'TENANT_SCOPE_NOT_ALLOWED',
            'CALL_NOT_FOUND',
            'CALL_STATE_CONFLICT',
            ...AUTH_ERRORS,
          ),
        },
      },
    },
    async (request, reply) => {
      const call = await deps.sandbox.pressKeys(numberOf(request), request.params.callId, request.body.digits);
      return reply.code(202).send({ sandbox: true, callId: call.id, digits: request.body.digits });
    },
  );

  app.get(
    '/v1/sandbox/calls/:callId',
    {
      config: { auth: 'number' },
      schema: {
        ...base,
        summary: "A sandbox call's simulated user",
        operationId: 'getSandboxCall',
        description: 'What the simulated user hears (dominant frequency, level) and its media state.',
        params: CallIdParams,
        response: {
          200: SessionSchema,
          ...errorResponses('VALIDATION_ERROR', 'TENANT_SCOPE_NOT_ALLOWED', 'CALL_NOT_FOUND', ...AUTH_ERRORS),
        },
      },
    },
    async (request) => {
      const call = await deps.calls.getCall(numberOf(request), request.params.callId);
      const view = await deps.sandbox.inspect(numberOf(request), call.id);
      return {
        sandbox: true as const,
        callId: call.id,
        ...view,
        heard: { frequencyHz: view.heard.frequencyHz, levelPercent: Math.round(view.heard.level * 100) },
      };
    },
  );
}
