import { toPublicCall } from '../../../calls/public-call.ts';
import { CALL_STATUSES, type CallStatus } from '../../../model/call.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { restorePlusInQuery } from '../plus-in-query.ts';
import { numberOf } from '../principal.ts';

const STATUS_WORDS = CALL_STATUSES.join('|');

const schema = {
  tags: ['Calls'],
  summary: 'List calls',
  operationId: 'listCalls',
  description:
    'Newest first, without SDPs. Page with before=<createdAt of the last call seen>, or with ' +
    'before=<id of the last call seen> for exact paging (calls created in the same millisecond are never skipped). ' +
    'Narrow with status=<one or more statuses, comma-separated> and peer=<digits the peer number contains>; ' +
    'paging keeps the filters.',
  security: NUMBER_SECURITY,
  querystring: Type.Object({
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 25 }),
    before: Type.Optional(
      Type.Union([Type.String({ format: 'date-time' }), Type.String({ pattern: '^call_[0-9A-Z]{26}$' })]),
    ),
    status: Type.Optional(
      Type.String({
        pattern: `^(${STATUS_WORDS})(,(${STATUS_WORDS}))*$`,
        description: 'Only calls in one of these statuses, comma-separated: e.g. RINGING,ACCEPTED.',
        examples: ['RINGING,ACCEPTED'],
      }),
    ),
    peer: Type.Optional(
      Type.String({
        pattern: '^\\+?[0-9]{1,15}$',
        description: 'Only calls whose peer number contains these digits (a leading + is ignored).',
        examples: ['5551234'],
      }),
    ),
  }),
  response: {
    200: Type.Object({ calls: Type.Array(Type.Ref('Call')) }),
    ...errorResponses('VALIDATION_ERROR', 'TENANT_SCOPE_NOT_ALLOWED', ...AUTH_ERRORS),
  },
};

export function listCallsRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/v1/calls',
    {
      schema,
      config: { auth: 'number' },
      preValidation: restorePlusInQuery({ phones: ['peer'], timestamps: ['before'] }),
    },
    async (request) => {
      const calls = await deps.calls.listCalls(numberOf(request), {
        limit: request.query.limit,
        before: request.query.before ?? null,
        filter: {
          // The schema's pattern admits only status words.
          statuses: request.query.status ? (request.query.status.split(',') as CallStatus[]) : [],
          peerDigits: request.query.peer?.replace('+', '') ?? '',
        },
      });
      const media = await deps.calls.serverMedia.describeMany(numberOf(request), calls);
      return { calls: calls.map((c) => ({ ...toPublicCall(c), ...media.get(c.id) })) };
    },
  );
}
