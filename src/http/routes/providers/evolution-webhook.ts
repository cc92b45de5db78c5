import { type EvolutionInboundDeps, receiveEvolutionWebhook } from '../../../calls/inbound/evolution.ts';
import { UnauthenticatedWebhook } from '../../../calls/inbound/unauthenticated.ts';
import { ApiError } from '../../../errors.ts';
import { errorResponses } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App } from '../../types.ts';
import { retryLater } from './retry-later.ts';

export function evolutionWebhookRoutes(app: App, deps: EvolutionInboundDeps): void {
  app.register(async (scope: App) => {
    // The token travels in the body: keep the raw bytes and parse them ourselves.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_request, body, done) =>
      done(null, body),
    );
    scope.post(
      '/providers/evolution/webhook/:numberId',
      {
        schema: {
          tags: ['Provider webhooks'],
          summary: 'Evolution Go webhook',
          operationId: 'receiveEvolutionWebhook',
          description:
            'The URL configured on the Evolution instance; authenticated by the instance id and token in the body ' +
            '(and X-Webhook-Secret, on numbers configured with a webhookSecret).',
          // No length limit here: an id that is no number of ours is a 401 like any unknown one (spec §3.1 step 1).
          params: Type.Object({ numberId: Type.String() }),
          response: {
            200: Type.Object({ received: Type.Integer() }),
            ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED', 'SERVICE_UNAVAILABLE', 'STORE_UNAVAILABLE'),
          },
        },
      },
      async (request) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        try {
          const secret = request.headers['x-webhook-secret'];
          const headerSecret = typeof secret === 'string' ? secret : null;
          return { received: await receiveEvolutionWebhook(deps, request.params.numberId, raw, headerSecret) };
        } catch (error) {
          if (error instanceof UnauthenticatedWebhook) {
            throw new ApiError('UNAUTHORIZED');
          }
          throw retryLater(error, request.log);
        }
      },
    );
  });
}
