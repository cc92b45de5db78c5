import { type MetaInboundDeps, receiveMetaWebhook, verifyMetaSubscription } from '../../../calls/inbound/meta.ts';
import { UnauthenticatedWebhook } from '../../../calls/inbound/unauthenticated.ts';
import { ApiError } from '../../../errors.ts';
import { errorResponses } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App } from '../../types.ts';
import { retryLater } from './retry-later.ts';

// Meta allows payloads up to 3 MB.
const BODY_LIMIT = 4 * 1024 * 1024;

export function metaWebhookRoutes(app: App, deps: MetaInboundDeps): void {
  app.register(async (scope: App) => {
    // The signature covers the exact bytes: keep them raw, parse only after verifying.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_request, body, done) =>
      done(null, body),
    );

    scope.get(
      '/providers/meta/webhook',
      {
        schema: {
          tags: ['Provider webhooks'],
          summary: 'Meta subscription check',
          operationId: 'verifyMetaSubscription',
          querystring: Type.Object({
            'hub.mode': Type.String({ maxLength: 64 }),
            'hub.challenge': Type.String({ maxLength: 256 }),
            'hub.verify_token': Type.String({ maxLength: 4096 }),
          }),
          response: {
            // Meta reads the challenge back as the bare body, not a JSON string.
            200: {
              description: 'hub.challenge, echoed',
              content: { 'text/plain': { schema: Type.String({ examples: ['1158201444'] }) } },
            },
            ...errorResponses('VALIDATION_ERROR', 'FORBIDDEN'),
          },
        },
      },
      async (request, reply) => {
        const q = request.query;
        if (!(await verifyMetaSubscription(deps, q['hub.mode'], q['hub.verify_token']))) {
          throw new ApiError('FORBIDDEN', { message: 'Verify token does not match' });
        }
        // The challenge is the caller's text (any tenant chooses a number's verify token), served on the dashboard's
        // origin: never to be sniffed as HTML or run as a page.
        return reply
          .type('text/plain; charset=utf-8')
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', "default-src 'none'; sandbox")
          .send(q['hub.challenge']);
      },
    );

    scope.post(
      '/providers/meta/webhook',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          tags: ['Provider webhooks'],
          summary: 'Meta calling webhook',
          operationId: 'receiveMetaWebhook',
          description:
            "Signed with X-Hub-Signature-256 by the number's app secret; routed by metadata.phone_number_id.",
          response: {
            200: Type.Object({ received: Type.Integer() }),
            ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED', 'SERVICE_UNAVAILABLE', 'STORE_UNAVAILABLE'),
          },
        },
      },
      async (request) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const signature = request.headers['x-hub-signature-256'];
        try {
          return {
            received: await receiveMetaWebhook(deps, raw, typeof signature === 'string' ? signature : undefined),
          };
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
