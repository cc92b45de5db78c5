import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { IssuedKey } from '../../schemas/number.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { tenantOf } from '../principal.ts';

const MaskedKey = Type.Object({
  scope: Type.Union([Type.Literal('tenant'), Type.Literal('number')]),
  numberId: Type.Union([Type.String(), Type.Null()]),
  keyIdLast4: Type.String(),
  keyLast4: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const scopeErrors = ['NUMBER_SCOPE_NOT_ALLOWED', ...AUTH_ERRORS] as const;

export function apiKeyRoutes(app: App, deps: RouteDeps): void {
  app.get(
    '/v1/api-keys',
    {
      config: { auth: 'tenant' },
      schema: {
        tags: ['API keys'],
        security: NUMBER_SECURITY,
        summary: 'List keys (masked)',
        operationId: 'listApiKeys',
        description: 'Key ids and secrets are credentials: only their last 4 characters are shown.',
        response: { 200: Type.Object({ apiKeys: Type.Array(MaskedKey) }), ...errorResponses(...scopeErrors) },
      },
    },
    async (request) => ({ apiKeys: await deps.numbers.listKeys(tenantOf(request)) }),
  );

  app.post(
    '/v1/api-keys/:numberId/regenerate',
    {
      config: { auth: 'tenant' },
      schema: {
        tags: ['API keys'],
        security: NUMBER_SECURITY,
        summary: "Regenerate a number's key",
        operationId: 'regenerateApiKey',
        description: 'Issues a new key id and secret, shown once; the old ones stop working at once.',
        params: Type.Object({ numberId: Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' }) }),
        response: {
          200: Type.Object({ numberId: Type.String(), apiKey: IssuedKey }),
          ...errorResponses('VALIDATION_ERROR', 'NUMBER_NOT_FOUND', ...scopeErrors),
        },
      },
    },
    async (request) => deps.numbers.regenerateKey(tenantOf(request), request.params.numberId),
  );
}
