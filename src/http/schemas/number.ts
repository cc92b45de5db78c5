import { PROVIDERS } from '../../model/number.ts';
import { NUMBER_STATES } from '../../numbers/service.ts';
import { ANSWER_MODES } from '../../providers/sandbox/settings.ts';
import { Type } from './type.ts';

const Secret = (description: string) => Type.String({ minLength: 1, maxLength: 4096, description });

export const MetaConfigInput = Type.Object(
  {
    phoneNumberId: Type.String({ pattern: '^[0-9]{1,32}$', description: 'Graph phone_number_id' }),
    wabaId: Type.Optional(Type.String({ pattern: '^[0-9]{1,32}$' })),
    accessToken: Secret('Graph access token (stored encrypted)'),
    appSecret: Secret('App secret used to verify X-Hub-Signature-256 (stored encrypted)'),
    verifyToken: Secret('Token Meta echoes in the subscription check (stored encrypted)'),
  },
  { additionalProperties: false },
);

export const EvolutionConfigInput = Type.Object(
  {
    baseUrl: Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 }),
    instanceId: Type.String({ minLength: 1, maxLength: 128 }),
    instanceName: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    instanceToken: Secret('Evolution instance token (stored encrypted)'),
    webhookSecret: Type.Optional(
      Secret(
        'Only behind a reverse proxy that adds X-Webhook-Secret to the webhooks: every webhook must then carry it, ' +
          'besides the instance token (stored encrypted)',
      ),
    ),
    publicWsBaseUrl: Type.Optional(Type.String({ format: 'uri', pattern: '^wss?://', maxLength: 2048 })),
  },
  { additionalProperties: false },
);

const answerMode = () =>
  Type.Enum(ANSWER_MODES, { description: 'What a simulated user does when the business calls it' });
const answerAfter = () => Type.Integer({ minimum: 0, maximum: 120 });
const audio = () =>
  Type.String({
    minLength: 1,
    maxLength: 2048,
    description: 'What the user says once answered: tone:<Hz>, echo, silence, speech-sample or a WAV URL',
  });
const hangupAfter = () => Type.Union([Type.Integer({ minimum: 1, maximum: 86_400 }), Type.Null()]);
const permissionReply = () => Type.Enum(['accept', 'reject', 'ignore'] as const);

export const SandboxSettingsInput = Type.Object(
  {
    answer: Type.Optional(answerMode()),
    answerAfterSeconds: Type.Optional(answerAfter()),
    audio: Type.Optional(audio()),
    hangupAfterSeconds: Type.Optional(hangupAfter()),
    permissionReply: Type.Optional(permissionReply()),
  },
  { additionalProperties: false },
);

const recordCalls = () =>
  Type.Boolean({
    description:
      'Record every call whose media callgate holds (`media: "server"`) unless its accept, pre-accept or start ' +
      'says `record: false`. Default false.',
  });

export const CreateNumberBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    phoneNumber: Type.Optional(
      Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164; optional on SANDBOX (a +99… is assigned)' }),
    ),
    provider: Type.Enum(PROVIDERS),
    meta: Type.Optional(MetaConfigInput),
    evolution: Type.Optional(EvolutionConfigInput),
    sandbox: Type.Optional(SandboxSettingsInput),
    recordCalls: Type.Optional(recordCalls()),
  },
  { additionalProperties: false },
);

/** PATCH /v1/numbers/{id}: the number's own settings (provider settings live under /v1/calls/settings). */
export const UpdateNumberBody = Type.Object({ recordCalls: recordCalls() }, { additionalProperties: false });

export const IssuedKey = Type.Object({
  id: Type.String({ description: 'key_... — also a credential (x-api-key-id); shown once' }),
  key: Type.String({ description: 'ps_... secret; shown once' }),
});

/** Pilot's web number (POST /v1/numbers {name, number, linkToApiKey?}): onboarded by QR on callgate's Evolution server. */
export const PilotWebNumberBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    number: Type.String({ pattern: '^\\+?[1-9][0-9]{6,14}$', description: 'The phone to pair, digits (+ optional)' }),
    linkToApiKey: Type.Optional(Type.Boolean({ description: "Issue the number's key now (default true)" })),
  },
  { additionalProperties: false },
);

const QrFields = {
  qrcode: Type.Optional(
    Type.Union([Type.String(), Type.Null()], { description: 'data:image/png;base64 QR to scan with WhatsApp' }),
  ),
  code: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'The raw string the QR encodes' })),
  qrcodeBase64: Type.Optional(
    Type.Union([Type.String(), Type.Null()], { description: "Pilot's name for qrcode (the same image)" }),
  ),
  pairingCode: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description: 'Typed in WhatsApp instead of scanning the QR: given for connect with {phone}, else null',
    }),
  ),
};

export const CreatedNumber = Type.Object({
  number: Type.Ref('Number'),
  instance: Type.Optional(
    Type.Object(
      {
        id: Type.String({ description: 'The number id (the same as number.id)' }),
        name: Type.String(),
        number: Type.String({ description: 'The phone, digits only' }),
        state: Type.Enum(NUMBER_STATES),
      },
      { description: "Pilot's name for the web number just created (POST with {name, number} only)" },
    ),
  ),
  apiKey: Type.Optional(IssuedKey),
  ...QrFields,
});

export const NumberConnection = Type.Object({
  id: Type.String(),
  state: Type.Enum(NUMBER_STATES),
  isFullyConnected: Type.Optional(Type.Boolean()),
  health: Type.Optional(Type.Object({}, { additionalProperties: true })),
  ...QrFields,
});

export const NumberSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    phoneNumber: Type.String(),
    number: Type.String({ description: "Pilot's name for the phone: phoneNumber's digits, without the +" }),
    provider: Type.String(),
    state: Type.Enum(NUMBER_STATES, {
      description: 'Pilot: OPEN, CONNECTING or CLOSED — the last connection state learned from the provider',
    }),
    isFullyConnected: Type.Boolean({ description: 'state is OPEN' }),
    health: Type.Optional(
      Type.Object(
        {},
        { additionalProperties: true, description: 'Web numbers: what the last status check found (rejectCall, …)' },
      ),
    ),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    meta: Type.Optional(
      Type.Object({
        phoneNumberId: Type.String(),
        wabaId: Type.Union([Type.String(), Type.Null()]),
        callingSettings: Type.Optional(
          Type.Object(
            {},
            {
              additionalProperties: true,
              description: "Meta's calling settings from its last account_settings_update",
            },
          ),
        ),
        callingSettingsAt: Type.Optional(Type.String({ format: 'date-time' })),
      }),
    ),
    sandbox: Type.Boolean({ description: 'A sandbox number: its WhatsApp side is simulated inside callgate' }),
    sandboxSettings: Type.Optional(
      Type.Object({
        answer: answerMode(),
        answerAfterSeconds: answerAfter(),
        audio: audio(),
        hangupAfterSeconds: hangupAfter(),
        permissionReply: permissionReply(),
      }),
    ),
    recordCalls: recordCalls(),
    evolution: Type.Optional(
      Type.Object({
        baseUrl: Type.String(),
        instanceId: Type.String(),
        instanceName: Type.Union([Type.String(), Type.Null()]),
        publicWsBaseUrl: Type.Union([Type.String(), Type.Null()]),
      }),
    ),
  },
  { $id: 'Number', description: 'A WhatsApp number. Provider credentials are never returned.' },
);

/** A regenerated key: Pilot's top-level keyId/key and callgate's apiKey, the same credentials. */
export const RegeneratedKey = Type.Object({
  numberId: Type.String(),
  keyId: Type.String({ description: 'key_... — shown once' }),
  key: Type.String({ description: 'ps_... secret; shown once' }),
  apiKey: IssuedKey,
});

export const NumberIdParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' }) });
