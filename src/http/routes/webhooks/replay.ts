import { errorResponses } from '../../schemas/common.ts';
import { ReplayBody, ReplayResponse, WebhookIdParams } from '../../schemas/webhook.ts';
import type { App, RouteDeps } from '../../types.ts';
import { namedNumber } from '../number-header.ts';
import { principalOf } from '../principal.ts';
import { anyKey, base, lookupErrors } from './common.ts';

export function replayWebhookRoute(app: App, deps: RouteDeps): void {
  app.post(
    '/v1/webhooks/:id/replay',
    {
      config: anyKey,
      schema: {
        ...base,
        summary: 'Replay an event',
        operationId: 'replayWebhookEvent',
        description:
          "Delivers one past event of the webhook's number again, from attempt 1, with the same webhook-id (its eventId).",
        params: WebhookIdParams,
        body: ReplayBody,
        response: { 202: ReplayResponse, ...errorResponses(...lookupErrors, 'EVENT_NOT_FOUND') },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await deps.webhooks.replay(
            principalOf(request),
            request.params.id,
            request.body.eventId,
            namedNumber(request, undefined),
          ),
        ),
  );
}
