import { errorResponses } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import { LogEntry, LogsQuery, WebhookIdParams } from '../../schemas/webhook.ts';
import type { App, RouteDeps } from '../../types.ts';
import { namedNumber } from '../number-header.ts';
import { principalOf } from '../principal.ts';
import { anyKey, base, lookupErrors } from './common.ts';

export function webhookLogsRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/v1/webhooks/:id/logs',
    {
      config: anyKey,
      schema: {
        ...base,
        summary: 'Delivery log',
        operationId: 'listWebhookLogs',
        description: 'One entry per HTTP attempt, newest first; `event` filters by event name.',
        params: WebhookIdParams,
        querystring: LogsQuery,
        response: { 200: Type.Object({ logs: Type.Array(LogEntry) }), ...errorResponses(...lookupErrors) },
      },
    },
    async (request) => ({
      logs: await deps.webhooks.logs(principalOf(request), request.params.id, {
        limit: request.query.limit,
        event: request.query.event ?? null,
        numberId: namedNumber(request, undefined),
      }),
    }),
  );
}
