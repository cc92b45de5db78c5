import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { CreateNumberBody, IssuedKey, NumberIdParams } from '../../schemas/number.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf, tenantOf } from '../principal.ts';

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
        description: 'Registers a WhatsApp number (META or EVO_GO) and returns its number-scoped key, shown this once.',
        body: CreateNumberBody,
        response: {
          201: Type.Object({ number: Type.Ref('Number'), apiKey: IssuedKey }),
          ...errorResponses('VALIDATION_ERROR', 'NUMBER_CONFLICT', ...scopeErrors),
        },
      },
    },
    async (request, reply) => {
      const created = await deps.numbers.create(tenantOf(request), request.body);
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/v1/numbers',
    {
      config: tenantRoute,
      schema: {
        ...base,
        summary: 'List numbers',
        response: { 200: Type.Object({ numbers: Type.Array(Type.Ref('Number')) }), ...errorResponses(...scopeErrors) },
      },
    },
    async (request) => ({ numbers: await deps.numbers.list(tenantOf(request)) }),
  );

  app.get(
    '/v1/number',
    {
      config: { auth: 'number' as const },
      schema: {
        tags: ['Numbers'],
        security: NUMBER_SECURITY,
        summary: "The key's own number",
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
        params: NumberIdParams,
        response: {
          200: Type.Ref('Number'),
          ...errorResponses('VALIDATION_ERROR', 'NUMBER_NOT_FOUND', ...scopeErrors),
        },
      },
    },
    async (request) => deps.numbers.get(tenantOf(request), request.params.id),
  );

  app.delete(
    '/v1/numbers/:id',
    {
      config: tenantRoute,
      schema: {
        ...base,
        summary: 'Delete a number',
        description: 'Deletes the number, its calls and its key (which stops working at once).',
        params: NumberIdParams,
        response: { 204: Type.Null(), ...errorResponses('VALIDATION_ERROR', 'NUMBER_NOT_FOUND', ...scopeErrors) },
      },
    },
    async (request, reply) => {
      await deps.numbers.delete(tenantOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
}
