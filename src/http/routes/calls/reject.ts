import { ActionResponse, CallIdParams } from '../../schemas/call.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

const schema = {
  tags: ['Calls'],
  summary: 'Reject an inbound call',
  operationId: 'rejectCall',
  description: 'Declines a ringing inbound call; it ends REJECTED.',
  security: NUMBER_SECURITY,
  params: CallIdParams,
  response: {
    200: ActionResponse,
    ...errorResponses(
      'VALIDATION_ERROR',
      'TENANT_SCOPE_NOT_ALLOWED',
      'CALL_NOT_FOUND',
      'CALL_STATE_CONFLICT',
      'WHATSAPP_INSTANCE_NOT_CONNECTED',
      'PROVIDER_ERROR',
      'PROVIDER_UNAVAILABLE',
      ...AUTH_ERRORS,
    ),
  },
};

export function rejectCallRoute(app: App, deps: RouteDeps): void {
  app.post('/v1/calls/:callId/reject', { schema, config: { auth: 'number' } }, async (request) => {
    const result = await deps.calls.reject(numberOf(request), request.params.callId);
    return { success: true as const, ...result };
  });
}
