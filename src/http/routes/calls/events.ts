import { CallIdParams } from '../../schemas/call.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

const TimelineEntry = Type.Object({
  sequence: Type.Integer({ minimum: 1 }),
  source: Type.Enum(['provider', 'api', 'system']),
  type: Type.String({ description: 'offer, status.RINGING, end, terminate, accept, ring-timeout, ...' }),
  detail: Type.Object({}, { additionalProperties: true }),
  at: Type.String({ format: 'date-time' }),
});

export function callEventsRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/v1/calls/:callId/events',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: "A call's timeline",
        operationId: 'listCallEvents',
        description:
          'Every provider event received and every API or system action on the call, in order (beyond Pilot).',
        security: NUMBER_SECURITY,
        params: CallIdParams,
        response: {
          200: Type.Object({ events: Type.Array(TimelineEntry) }),
          ...errorResponses('VALIDATION_ERROR', 'TENANT_SCOPE_NOT_ALLOWED', 'CALL_NOT_FOUND', ...AUTH_ERRORS),
        },
      },
    },
    async (request) => ({ events: await deps.calls.timeline(numberOf(request), request.params.callId) }),
  );
}
