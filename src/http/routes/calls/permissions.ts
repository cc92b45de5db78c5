import { answerOnStored } from '../../plugins/idempotency.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { restorePlusInQuery } from '../plus-in-query.ts';
import { numberOf } from '../principal.ts';

const E164 = Type.String({ pattern: '^\\+?[1-9][0-9]{6,14}$' });

export function callPermissionRoutes(app: App, deps: RouteDeps): void {
  app.get(
    '/v1/calls/permissions',
    {
      config: { auth: 'number' },
      preValidation: restorePlusInQuery({ phones: ['to'] }),
      schema: {
        tags: ['Calls'],
        summary: 'Call permission of a user (META, SANDBOX)',
        operationId: 'getCallPermission',
        description:
          "Whether the business may call `to` now, and whether it may ask: Meta's answer, passed through in its " +
          'snake_case shape (SANDBOX numbers answer in the same shape).',
        security: NUMBER_SECURITY,
        querystring: Type.Object({ to: E164 }),
        response: {
          200: Type.Object({}, { additionalProperties: true }),
          ...errorResponses(
            'VALIDATION_ERROR',
            'FEATURE_NOT_SUPPORTED',
            'TENANT_SCOPE_NOT_ALLOWED',
            'RATE_LIMITED',
            'PROVIDER_ERROR',
            'PROVIDER_UNAVAILABLE',
            'UNAUTHORIZED',
          ),
        },
      },
    },
    async (request) => deps.metaCalling.getPermissions(numberOf(request), request.query.to),
  );

  app.post(
    '/v1/calls/permissions/request',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: 'Ask a user for call permission (META, SANDBOX)',
        operationId: 'requestCallPermission',
        description:
          "Sends the user WhatsApp's call-permission request (`text`, when given, is its body) and answers the " +
          "message's id; the user's answer arrives as `call.permission_updated`. On SANDBOX numbers the simulated " +
          "user answers after a second, as the number's `sandbox` settings say. Web (EVO_GO) numbers: 400 " +
          '`FEATURE_NOT_SUPPORTED`.',
        security: NUMBER_SECURITY,
        body: Type.Object(
          { to: E164, text: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ messageId: Type.String() }),
          ...errorResponses(
            'VALIDATION_ERROR',
            'FEATURE_NOT_SUPPORTED',
            'TENANT_SCOPE_NOT_ALLOWED',
            'META_CALL_PERMISSION_REQUEST_LIMIT',
            'PROVIDER_ERROR',
            'PROVIDER_UNAVAILABLE',
            ...AUTH_ERRORS,
          ),
        },
      },
    },
    async (request, reply) =>
      deps.metaCalling.requestPermission(
        numberOf(request),
        request.body.to,
        request.body.text ?? null,
        answerOnStored(request, reply, 200),
      ),
  );
}
