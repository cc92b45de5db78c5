import { toPublicCall } from '../../../calls/public-call.ts';
import { CallIdParams } from '../../schemas/call.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

const schema = {
  tags: ['Calls'],
  summary: 'Get a call',
  operationId: 'getCall',
  description: "By id or provider call id, inside the key's number. SDPs only with includeSdp=1.",
  security: NUMBER_SECURITY,
  params: CallIdParams,
  querystring: Type.Object({
    includeSdp: Type.Optional(
      Type.Union([Type.Literal('0'), Type.Literal('1'), Type.Literal('true'), Type.Literal('false')]),
    ),
  }),
  response: {
    200: Type.Ref('Call'),
    ...errorResponses('VALIDATION_ERROR', 'TENANT_SCOPE_NOT_ALLOWED', 'CALL_NOT_FOUND', ...AUTH_ERRORS),
  },
};

export function getCallRoute(app: App, deps: RouteDeps): void {
  app.get('/v1/calls/:callId', { schema, config: { auth: 'number' } }, async (request) => {
    const call = await deps.calls.getCall(numberOf(request), request.params.callId);
    const includeSdp = request.query.includeSdp === '1' || request.query.includeSdp === 'true';
    return { ...toPublicCall(call, includeSdp), ...(await deps.calls.serverMedia.describe(call)) };
  });
}
