// Pilot's connection routes for a number (docs/spec/pilot-compat.md §5): its status as the provider sees it, and a
// new QR (or pairing code) for a web number that must be paired again.
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { NumberConnection, NumberIdParams } from '../../schemas/number.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { originOf, principalOf } from '../principal.ts';

const base = { tags: ['Numbers'], security: NUMBER_SECURITY };
const statusErrors = [
  'VALIDATION_ERROR',
  'FEATURE_NOT_SUPPORTED',
  'NUMBER_NOT_FOUND',
  'PROVIDER_ERROR',
  'PROVIDER_UNAVAILABLE',
  ...AUTH_ERRORS,
] as const;
const errors = errorResponses(...statusErrors);
// Only a re-pairing asks where the instance's webhooks go, which a number key may not choose (web-onboarding.ts).
const connectErrors = errorResponses(...statusErrors, 'FORBIDDEN');

export function numberConnectionRoutes(app: App, deps: RouteDeps): void {
  app.get(
    '/v1/numbers/:id/status',
    {
      config: { auth: 'any' },
      schema: {
        ...base,
        summary: "A number's connection status",
        operationId: 'getNumberStatus',
        description:
          "Pilot's state (OPEN, CONNECTING, CLOSED) and isFullyConnected. EVO_GO: asked of the Evolution Go server now " +
          '(health says whether the instance is paired, connected and keeps rejectCall off); META: the last Graph outcome; SANDBOX: always OPEN.',
        params: NumberIdParams,
        response: { 200: NumberConnection, ...errors },
      },
    },
    async (request) => deps.webOnboarding.status(principalOf(request), request.params.id),
  );

  app.post(
    '/v1/numbers/:id/connect',
    {
      config: { auth: 'any' },
      // Pilot's connect sends no body; a pairing code is asked with {phone}.
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) {
          request.body = {};
        }
      },
      schema: {
        ...base,
        summary: 'Pair a web number again',
        operationId: 'connectNumber',
        description:
          'EVO_GO: subscribes the instance to CALL and CONNECTION again and answers a new QR, or with `phone` a ' +
          'pairing code to type in WhatsApp. META and SANDBOX numbers: 400 FEATURE_NOT_SUPPORTED.',
        params: NumberIdParams,
        body: Type.Object(
          { phone: Type.Optional(Type.String({ pattern: '^\\+?[1-9][0-9]{6,14}$' })) },
          { additionalProperties: false },
        ),
        response: { 200: NumberConnection, ...connectErrors },
      },
    },
    async (request) =>
      deps.webOnboarding.connect(principalOf(request), request.params.id, request.body.phone, originOf(request)),
  );

  // Pilot's own reconnect is a GET (a fresh QR, no pairing code): the same as POST without a body.
  app.get(
    '/v1/numbers/:id/connect',
    {
      // It changes state (a new QR replaces the last): no implicit HEAD doing the same.
      exposeHeadRoute: false,
      config: { auth: 'any' },
      schema: {
        ...base,
        summary: 'Pair a web number again (GET, as Pilot)',
        operationId: 'reconnectNumber',
        description: 'What POST /v1/numbers/{id}/connect does without a body: a new QR for an EVO_GO number.',
        params: NumberIdParams,
        response: { 200: NumberConnection, ...connectErrors },
      },
    },
    async (request) =>
      deps.webOnboarding.connect(principalOf(request), request.params.id, undefined, originOf(request)),
  );
}
