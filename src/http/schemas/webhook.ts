import { PILOT_ONLY_EVENT_PATTERN, WEBHOOK_EVENT_FILTERS, WEBHOOK_EVENTS } from '../../webhooks/event-names.ts';
import { Type } from './type.ts';

const Timestamp = Type.String({ format: 'date-time' });
const Url = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: 'https:// to a public address (http and private addresses only with WEBHOOK_ALLOW_INSECURE_URLS=true)',
});
const Name = Type.String({ minLength: 1, maxLength: 200 });
const PilotOnlyEvent = Type.String({
  pattern: PILOT_ONLY_EVENT_PATTERN,
  description: "Pilot's message.* and number.* events: accepted, never sent (callgate cannot emit them)",
});
const Events = Type.Array(Type.Union([Type.Enum(WEBHOOK_EVENT_FILTERS), PilotOnlyEvent]), {
  maxItems: 50,
  description: 'Event names, or "*" for all; omitted or empty delivers nothing. On PATCH it replaces the whole list.',
});
const PilotFields = {
  whatsappNumberIds: Type.Array(Type.String(), { description: "Pilot's list form of whatsappNumberId (one number)" }),
  tenantId: Type.String(),
  lastTriggered: Type.Union([Timestamp, Type.Null()], { description: 'When a delivery was last tried' }),
};

export const WebhookSchema = Type.Object(
  {
    id: Type.String({ examples: ['whk_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P'] }),
    name: Type.Union([Type.String(), Type.Null()]),
    url: Type.String(),
    events: Type.Array(Type.String()),
    active: Type.Boolean({
      description: 'false: paused by the customer, or disabled by the service after a 410 (see disabledReason)',
    }),
    whatsappNumberId: Type.String(),
    ...PilotFields,
    disabledReason: Type.Union([Type.String(), Type.Null()]),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Webhook', description: 'A webhook registration. Its signing secret is shown only at creation and rotation.' },
);

export const CreateWebhookBody = Type.Object(
  {
    url: Url,
    name: Type.Optional(Name),
    events: Type.Optional(Events),
    whatsappNumberId: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_]{1,64}$',
        description: 'Required with a tenant key (or the x-whatsapp-number-id header); a number key may omit it',
      }),
    ),
  },
  { additionalProperties: false },
);

export const UpdateWebhookBody = Type.Object(
  {
    url: Type.Optional(Url),
    name: Type.Optional(Name),
    active: Type.Optional(Type.Boolean()),
    events: Type.Optional(Events),
  },
  { additionalProperties: false },
);

const SecretField = Type.String({ description: 'whsec_... signing secret (Standard Webhooks); shown this once' });

export const CreatedWebhook = Type.Object({
  id: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  url: Type.String(),
  events: Type.Array(Type.String()),
  active: Type.Boolean(),
  whatsappNumberId: Type.String(),
  ...PilotFields,
  disabledReason: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  secret: SecretField,
});

export const RotatedSecret = Type.Object({
  id: Type.String(),
  secret: SecretField,
  previousSecretExpiresAt: Type.String({
    format: 'date-time',
    description: 'Until then deliveries carry signatures of both secrets',
  }),
});

export const WebhookEventTypes = Type.Object({
  events: Type.Array(
    Type.Object({
      name: Type.Enum(WEBHOOK_EVENTS),
      description: Type.String(),
    }),
    {
      examples: [[{ name: 'call.ended', description: 'Every call ends with exactly one, whoever ended it' }]],
    },
  ),
});

export const WebhookIdParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' }) });

export const LogsQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 50, default: 50 }),
    event: Type.Optional(Type.Union([Type.Enum(WEBHOOK_EVENTS), PilotOnlyEvent])),
  },
  { additionalProperties: false },
);

export const LogEntry = Type.Object({
  id: Type.String(),
  event: Type.String(),
  eventId: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  status: Type.Enum(['SUCCESS', 'FAILED']),
  statusCode: Type.Union([Type.Integer(), Type.Null()], {
    description: 'null when no HTTP response came (timeout, refused, network error)',
  }),
  payload: Type.Unknown({ description: 'The JSON body delivered (null if its event was purged)' }),
  response: Type.Union([Type.String(), Type.Null()], { description: "The first 4 KiB of the receiver's answer" }),
  durationMs: Type.Integer(),
  nextAttemptAt: Type.Union([Timestamp, Type.Null()], {
    description: 'When this delivery is tried again (its latest failed attempt, while retries remain); else null',
  }),
  error: Type.Optional(Type.String()),
  createdAt: Timestamp,
});

export const ReplayBody = Type.Object(
  { eventId: Type.String({ pattern: '^evt_[A-Za-z0-9]{1,64}$' }) },
  { additionalProperties: false },
);

export const ReplayResponse = Type.Object({
  webhookId: Type.String(),
  eventId: Type.String(),
  event: Type.String(),
  status: Type.Literal('PENDING'),
});
