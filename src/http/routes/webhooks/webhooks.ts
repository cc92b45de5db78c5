import { answerOnStored } from '../../plugins/idempotency.ts';
import { Deleted, errorResponses } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import { CreatedWebhook, CreateWebhookBody, UpdateWebhookBody, WebhookIdParams } from '../../schemas/webhook.ts';
import type { App, RouteDeps } from '../../types.ts';
import { namedNumber } from '../number-header.ts';
import { principalOf } from '../principal.ts';
import { anyKey, base, lookupErrors } from './common.ts';

export function webhookRoutes(app: App, deps: RouteDeps): void {
  app.post(
    '/v1/webhooks',
    {
      config: anyKey,
      schema: {
        ...base,
        summary: 'Register a webhook',
        operationId: 'createWebhook',
        description:
          'Registers a URL for call events of one number. A tenant key names it (whatsappNumberId or x-whatsapp-number-id); ' +
          'a number key may omit it. ' +
          'The URL must be https:// to a public address. `events` omitted or empty: nothing is dispatched; Pilot-only ' +
          'names (message.*, number.*) are dropped. Returns the signing secret (whsec_...), shown this once.',
        body: CreateWebhookBody,
        response: {
          201: CreatedWebhook,
          ...errorResponses(
            'VALIDATION_ERROR',
            'NUMBER_REQUIRED',
            'NUMBER_MISMATCH',
            'NUMBER_NOT_FOUND',
            'WEBHOOK_LIMIT_REACHED',
            'UNAUTHORIZED',
            'RATE_LIMITED',
          ),
        },
      },
    },
    async (request, reply) => {
      const whatsappNumberId = namedNumber(request, request.body.whatsappNumberId);
      const created = await deps.webhooks.create(
        principalOf(request),
        { ...request.body, whatsappNumberId },
        answerOnStored(request, reply, 201),
      );
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/v1/webhooks',
    {
      config: anyKey,
      schema: {
        ...base,
        summary: 'List webhooks',
        operationId: 'listWebhooks',
        description:
          "A bare array, as Pilot answers: all of the tenant's webhooks (or one number's, named by x-whatsapp-number-id), " +
          "or a number key's own. Never the secrets.",
        response: {
          200: Type.Array(Type.Ref('Webhook')),
          ...errorResponses('NUMBER_MISMATCH', 'NUMBER_NOT_FOUND', 'UNAUTHORIZED', 'RATE_LIMITED'),
        },
      },
    },
    async (request) => deps.webhooks.list(principalOf(request), namedNumber(request, undefined)),
  );

  app.get(
    '/v1/webhooks/:id',
    {
      config: anyKey,
      schema: {
        ...base,
        summary: 'Get a webhook',
        operationId: 'getWebhook',
        description:
          "One webhook of the tenant's numbers (a number key: of its own number), with its state and last delivery; " +
          "never the secret. Another tenant's webhook is a 404.",
        params: WebhookIdParams,
        response: { 200: Type.Ref('Webhook'), ...errorResponses(...lookupErrors) },
      },
    },
    async (request) => deps.webhooks.get(principalOf(request), request.params.id, namedNumber(request, undefined)),
  );

  app.patch(
    '/v1/webhooks/:id',
    {
      config: anyKey,
      schema: {
        ...base,
        summary: 'Update a webhook',
        operationId: 'updateWebhook',
        description:
          '`events` replaces the whole list; `active:false` pauses deliveries (the events of the pause wait), `active:true` ' +
          'resumes them, in order (also after a 410 disabled it, from the next event on). ' +
          'A new `url` is checked like at registration.',
        params: WebhookIdParams,
        body: UpdateWebhookBody,
        response: { 200: Type.Ref('Webhook'), ...errorResponses(...lookupErrors) },
      },
    },
    async (request) =>
      deps.webhooks.update(principalOf(request), request.params.id, request.body, namedNumber(request, undefined)),
  );

  app.delete(
    '/v1/webhooks/:id',
    {
      config: anyKey,
      schema: {
        ...base,
        summary: 'Delete a webhook',
        operationId: 'deleteWebhook',
        description: 'Deletes the webhook, its pending deliveries and its log.',
        params: WebhookIdParams,
        response: { 200: Deleted, ...errorResponses(...lookupErrors) },
      },
    },
    async (request) => {
      await deps.webhooks.delete(principalOf(request), request.params.id, namedNumber(request, undefined));
      return { success: true as const, id: request.params.id };
    },
  );
}
