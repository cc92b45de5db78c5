import { CALL_STATUSES, DIRECTIONS, ENDED_BY } from '../../model/call.ts';
import { Type } from './type.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Timestamp = Type.String({ format: 'date-time' });

export const CallStatusSchema = Type.Enum(CALL_STATUSES);

export const CallSchema = Type.Object(
  {
    id: Type.String({ examples: ['call_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P'] }),
    externalCallId: Type.String({ description: 'Provider call id (Meta wacid / Evolution CallID)' }),
    numberId: Type.String(),
    direction: Type.Enum(DIRECTIONS),
    status: CallStatusSchema,
    peerNumber: Nullable(
      Type.String({ description: "Digits only, no +; null when the caller's phone number is not known" }),
    ),
    peerUserId: Nullable(Type.String({ description: "Meta's business-scoped user id of the caller, when given" })),
    peerLid: Nullable(Type.String({ description: 'WhatsApp LID of the caller (web numbers), when it presented one' })),
    peerIsLid: Type.Boolean({ description: 'The caller is known only by its LID (peerNumber is null)' }),
    durationSeconds: Type.Union([Type.Integer(), Type.Null()]),
    startedAt: Timestamp,
    connectedAt: Nullable(Timestamp),
    endedAt: Nullable(Timestamp),
    endedBy: Type.Union([Type.Enum(ENDED_BY), Type.Null()]),
    endReason: Nullable(Type.String()),
    bizOpaqueCallbackData: Nullable(Type.String()),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    sandbox: Type.Optional(
      Type.Literal(true, { description: 'Present on calls of SANDBOX numbers (simulated WhatsApp users)' }),
    ),
    ctaPayload: Type.Optional(
      Type.String({ description: "META: the payload of the business's call button the user called from" }),
    ),
    deeplinkPayload: Type.Optional(
      Type.String({ description: 'META: the `biz_payload` of the call deeplink the user called from' }),
    ),
    peerParentUserId: Type.Optional(
      Type.String({ description: "META: the caller's parent business-scoped user id (contacts[].parent_user_id)" }),
    ),
    sdpOffer: Type.Optional(Nullable(Type.String())),
    sdpAnswer: Type.Optional(Nullable(Type.String())),
    media: Type.Optional(
      Type.Enum(['server', 'relay'], {
        description:
          "server: callgate's media engine holds (or held) this call's media; relay: the business answered or " +
          'placed it with its own SDP; absent before either, and on web numbers',
      }),
    ),
    mediaNode: Type.Optional(Type.String({ description: 'The process holding the media' })),
    recording: Type.Optional(
      Type.Object({
        status: Type.Enum(['recording', 'ready', 'failed', 'deleted']),
        durationSeconds: Type.Union([Type.Integer(), Type.Null()]),
        sizeBytes: Type.Union([Type.Integer(), Type.Null()]),
      }),
    ),
  },
  { $id: 'Call' },
);

/** docs/spec/calls-api.md §4.1: 1–256 chars of [A-Za-z0-9._:@=+/-] after URL-decoding. */
export const CallIdParams = Type.Object({
  callId: Type.String({
    pattern: '^[A-Za-z0-9._:@=+/-]{1,256}$',
    description: 'Our id (call_...) or the provider call id (wacid / CallID); URL-encode "/" as %2F.',
  }),
});

export const ActionResponse = Type.Object({
  success: Type.Literal(true),
  id: Type.String(),
  status: CallStatusSchema,
  alreadyEnded: Type.Optional(Type.Literal(true)),
  sandbox: Type.Optional(
    Type.Literal(true, { description: 'Present on calls of SANDBOX numbers (simulated WhatsApp users)' }),
  ),
  providerConfirmed: Type.Optional(
    Type.Literal(false, {
      description:
        "The provider sent the action without waiting for WhatsApp (Evolution's /call/reject); the call's timeline " +
        'shows it confirmed when the provider reports the end',
    }),
  ),
});

/** accept and pre-accept: the SDP answer, or none for callgate's own media engine (server media). */
export const AnswerBody = Type.Object(
  {
    sdp: Type.Optional(Type.String({ minLength: 1, maxLength: 65_536 })),
    sdpType: Type.Optional(Type.Literal('answer')),
    record: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
