import { ANSWER_MODES } from '../../providers/sandbox/settings.ts';
import { PROVIDERS } from '../../store/numbers.ts';
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
  },
  { additionalProperties: false },
);

export const NumberSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    phoneNumber: Type.String(),
    provider: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    meta: Type.Optional(
      Type.Object({ phoneNumberId: Type.String(), wabaId: Type.Union([Type.String(), Type.Null()]) }),
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

export const IssuedKey = Type.Object({
  id: Type.String({ description: 'key_... — also a credential (x-api-key-id); shown once' }),
  key: Type.String({ description: 'ps_... secret; shown once' }),
});

export const NumberIdParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' }) });
