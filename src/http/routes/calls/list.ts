import { toPublicCall } from '../../../calls/types.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

const schema = {
  tags: ['Calls'],
  summary: 'List calls',
  operationId: 'listCalls',
  description:
    'Newest first, without SDPs. Page with before=<createdAt of the last call seen>, or with ' +
    'before=<id of the last call seen> for exact paging (calls created in the same millisecond are never skipped).',
  security: NUMBER_SECURITY,
  querystring: Type.Object({
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 25 }),
    before: Type.Optional(
      Type.Union([Type.String({ format: 'date-time' }), Type.String({ pattern: '^call_[0-9A-Z]{26}$' })]),
    ),
  }),
  response: {
    200: Type.Object({ calls: Type.Array(Type.Ref('Call')) }),
    ...errorResponses('VALIDATION_ERROR', 'TENANT_SCOPE_NOT_ALLOWED', ...AUTH_ERRORS),
  },
};

export function listCallsRoute(app: App, deps: RouteDeps): void {
  app.get('/v1/calls', { schema, config: { auth: 'number' } }, async (request) => {
    const calls = await deps.calls.listCalls(numberOf(request), {
      limit: request.query.limit,
      before: request.query.before ?? null,
    });
    const media = await deps.calls.serverMedia.describeMany(numberOf(request), calls);
    return { calls: calls.map((c) => ({ ...toPublicCall(c), ...media.get(c.id) })) };
  });
}
