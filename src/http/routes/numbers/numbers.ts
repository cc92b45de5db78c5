import { answerOnStored } from '../../plugins/idempotency.ts';
import { AUTH_ERRORS, Deleted, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import {
  CreatedNumber,
  CreateNumberBody,
  NumberIdParams,
  PilotWebNumberBody,
  UpdateNumberBody,
} from '../../schemas/number.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf, originOf, principalOf, tenantOf } from '../principal.ts';

const tenantRoute = { auth: 'tenant' as const };
const base = { tags: ['Numbers'], security: NUMBER_SECURITY };
const scopeErrors = ['NUMBER_SCOPE_NOT_ALLOWED', ...AUTH_ERRORS] as const;

export function numberRoutes(app: App, deps: RouteDeps): void {
  app.post(
    '/v1/numbers',
    {
      config: tenantRoute,
      schema: {
        ...base,
        summary: 'Create a number',
        operationId: 'createNumber',
        description:
          'Registers a WhatsApp number (META, SANDBOX or EVO_GO) and returns its number-scoped key, shown this once. ' +
          'A META number is stored only once Meta confirms that `meta.accessToken` reaches `meta.phoneNumberId` ' +
          '(GET /{phone_number_id}/settings, which needs the whatsapp_business_management permission): a token Meta ' +
          'refuses, or an id it cannot reach with it, is a 400 VALIDATION_ERROR naming the field in ' +
          '`details.field`; Meta down is a 502 PROVIDER_UNAVAILABLE. Nothing is stored then. ' +
          "Pilot's body {name, number, linkToApiKey?} onboards a web number by QR on callgate's Evolution Go server " +
          '(EVOLUTION_BASE_URL): the answer carries the QR to scan.',
        body: Type.Union([CreateNumberBody, PilotWebNumberBody]),
        response: {
          201: CreatedNumber,
          ...errorResponses(
            'VALIDATION_ERROR',
            'FEATURE_NOT_SUPPORTED',
            'NUMBER_CONFLICT',
            'PROVIDER_ERROR',
            'PROVIDER_UNAVAILABLE',
            ...scopeErrors,
          ),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const created =
        'provider' in body
          ? await deps.numbers.create(tenantOf(request), body, answerOnStored(request, reply, 201))
          : await deps.webOnboarding.create(
              tenantOf(request),
              body,
              originOf(request),
              answerOnStored(request, reply, 201),
            );
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/v1/numbers',
    {
      config: { auth: 'any' },
      schema: {
        ...base,
        summary: 'List numbers',
        operationId: 'listNumbers',
        description: "A bare array, as Pilot answers: the tenant's numbers, or a number key's own.",
        response: { 200: Type.Array(Type.Ref('Number')), ...errorResponses(...AUTH_ERRORS) },
      },
    },
    async (request) => deps.numbers.list(principalOf(request)),
  );

  app.get(
    '/v1/number',
    {
      config: { auth: 'number' as const },
      schema: {
        tags: ['Numbers'],
        security: NUMBER_SECURITY,
        summary: "The key's own number",
        operationId: 'getOwnNumber',
        description: 'For a number key: its number (provider, whether it is a sandbox), e.g. for the dashboard.',
        response: {
          200: Type.Ref('Number'),
          ...errorResponses('TENANT_SCOPE_NOT_ALLOWED', ...AUTH_ERRORS),
        },
      },
    },
    async (request) => deps.numbers.get(tenantOf(request), numberOf(request)),
  );

  app.get(
    '/v1/numbers/:id',
    {
      config: tenantRoute,
      schema: {
        ...base,
        summary: 'Get a number',
        operationId: 'getNumber',
        description:
          "One of the tenant's numbers, as `GET /v1/numbers` lists it; provider credentials are never returned. " +
          "Another tenant's number is a 404.",
        params: NumberIdParams,
        response: {
          200: Type.Ref('Number'),
          ...errorResponses('VALIDATION_ERROR', 'NUMBER_NOT_FOUND', ...scopeErrors),
        },
      },
    },
    async (request) => deps.numbers.get(tenantOf(request), request.params.id),
  );

  app.patch(
    '/v1/numbers/:id',
    {
      config: tenantRoute,
      schema: {
        ...base,
        summary: 'Change a number’s settings',
        operationId: 'updateNumber',
        description:
          '`recordCalls: true` records every call on this number whose media callgate holds, unless the call’s ' +
          'accept, pre-accept or start says `record: false`. Calls already answered keep what they were given.',
        params: NumberIdParams,
        body: UpdateNumberBody,
        response: {
          200: Type.Ref('Number'),
          ...errorResponses('VALIDATION_ERROR', 'NUMBER_NOT_FOUND', ...scopeErrors),
        },
      },
    },
    async (request) => deps.numbers.update(tenantOf(request), request.params.id, request.body),
  );

  app.delete(
    '/v1/numbers/:id',
    {
      config: tenantRoute,
      schema: {
        ...base,
        summary: 'Delete a number',
        operationId: 'deleteNumber',
        description:
          'Deletes the number with its key (which stops working at once), its calls and their recordings, its webhooks and its events; a web number onboarded by QR also loses its Evolution instance. ' +
          'A number with calls still ringing or connected is not deleted: 409 NUMBER_HAS_LIVE_CALLS names them ' +
          '(`details.liveCalls`); end them with their number key (terminate), then delete it again. Calls still being ' +
          'placed (a POST /v1/calls waiting for the provider) count too, in `details.callsBeingPlaced`: wait for ' +
          'that request, end its call, then delete. ' +
          '`force=true` deletes it with them, when they cannot be ended (the provider refuses: a revoked token, a ' +
          'server gone): nothing then ends them at the provider, and no `call.ended` is sent for them.',
        params: NumberIdParams,
        querystring: Type.Object({
          force: Type.Optional(
            Type.Union([Type.Literal('true'), Type.Literal('false')], {
              description: 'Delete the number even with calls still live (they are not ended at the provider)',
            }),
          ),
        }),
        response: {
          200: Deleted,
          ...errorResponses('VALIDATION_ERROR', 'NUMBER_NOT_FOUND', 'NUMBER_HAS_LIVE_CALLS', ...scopeErrors),
        },
      },
    },
    async (request) => {
      const config = await deps.numbers.delete(tenantOf(request), request.params.id, {
        force: request.query.force === 'true',
      });
      await deps.webOnboarding.release(request.params.id, config);
      return { success: true as const, id: request.params.id };
    },
  );
}
