import { WEBHOOK_EVENT_TYPES } from '../../../webhooks/event-types.ts';
import { AUTH_ERRORS, errorResponses } from '../../schemas/common.ts';
import { WebhookEventTypes } from '../../schemas/webhook.ts';
import type { App } from '../../types.ts';
import { anyKey, base } from './common.ts';

export function webhookEventTypesRoute(app: App): void {
  app.get(
    '/v1/webhooks/event-types',
    {
      config: anyKey,
      schema: {
        ...base,
        summary: 'Event types',
        operationId: 'listWebhookEventTypes',
        description:
          'Every event a webhook may subscribe to, with what it means; `events: ["*"]` subscribes to all of them.',
        response: { 200: WebhookEventTypes, ...errorResponses(...AUTH_ERRORS) },
      },
    },
    async () => ({ events: [...WEBHOOK_EVENT_TYPES] }),
  );
}
