import { errorResponses } from '../../schemas/common.ts';
import { RotatedSecret, WebhookIdParams } from '../../schemas/webhook.ts';
import type { App, RouteDeps } from '../../types.ts';
import { namedNumber } from '../number-header.ts';
import { principalOf } from '../principal.ts';
import { anyKey, base, lookupErrors } from './common.ts';

export function rotateWebhookSecretRoute(app: App, deps: RouteDeps): void {
  app.post(
    '/v1/webhooks/:id/rotate-secret',
    {
      config: anyKey,
      schema: {
        ...base,
        summary: 'Rotate the signing secret',
        operationId: 'rotateWebhookSecret',
        description:
          'Returns a new secret, shown this once. For 24 h every delivery carries signatures of both the old and the new ' +
          'secret (and of any other secret replaced in the last 24 h, at most 10).',
        params: WebhookIdParams,
        response: { 200: RotatedSecret, ...errorResponses(...lookupErrors) },
      },
    },
    async (request) =>
      deps.webhooks.rotateSecret(principalOf(request), request.params.id, namedNumber(request, undefined)),
  );
}
