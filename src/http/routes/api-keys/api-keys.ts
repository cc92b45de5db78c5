import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { RegeneratedKey } from '../../schemas/number.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { namedNumber } from '../number-header.ts';
import { principalOf, tenantOf } from '../principal.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
/** Pilot's item (numberId … revealable) plus callgate's own fields. */
const NumberKey = Type.Object({
  numberId: Type.String(),
  number: Type.String({ description: "The phone's digits, no + (as Pilot answers)" }),
  displayName: Type.String(),
  keyId: Nullable(Type.String({ description: 'Masked (key_…WXYZ): with API_KEY_ID_AUTH the id is a credential' })),
  keyLast4: Nullable(Type.String()),
  key: Type.Null({ description: 'Always null: keys are stored hashed and shown only when issued' }),
  revealable: Type.Boolean({ description: 'Always false, for the same reason' }),
  scope: Type.Literal('number'),
  keyIdLast4: Nullable(Type.String()),
  createdAt: Nullable(Type.String({ format: 'date-time' })),
  lastUsedAt: Nullable(Type.String({ format: 'date-time' })),
});

const scopeErrors = ['NUMBER_SCOPE_NOT_ALLOWED', ...AUTH_ERRORS] as const;

/** What the key in use speaks for: a client that takes either kind of key asks this instead of trying a route. */
const CurrentKey = Type.Object({
  scope: Type.Enum(['tenant', 'number'], {
    description: "tenant: manages the tenant's numbers, keys and webhooks; number: one number's calls",
  }),
  tenantId: Type.String(),
  whatsappNumberId: Nullable(Type.String({ description: 'The number of a number key; null for a tenant key' })),
});

export function apiKeyRoutes(app: App, deps: RouteDeps): void {
  app.get(
    '/v1/api-keys/current',
    {
      config: { auth: 'any' },
      schema: {
        tags: ['API keys'],
        security: NUMBER_SECURITY,
        summary: 'The key in use',
        operationId: 'getCurrentApiKey',
        description:
          'What the key sending this request speaks for: `scope` tenant or number, its tenant, and the number of ' +
          "a number key. Any key may ask, so a client that takes either kind (the dashboard's sign-in) learns which " +
          'it was given without a request that key would be refused.',
        response: { 200: CurrentKey, ...errorResponses(...AUTH_ERRORS) },
      },
    },
    async (request) => {
      const p = principalOf(request);
      return { scope: p.scope, tenantId: p.tenantId, whatsappNumberId: p.numberId };
    },
  );

  app.get(
    '/v1/api-keys',
    {
      config: { auth: 'tenant' },
      schema: {
        tags: ['API keys'],
        security: NUMBER_SECURITY,
        summary: 'List keys (masked)',
        operationId: 'listApiKeys',
        description:
          'A bare array, as Pilot answers: one item per number with its key (only the number x-whatsapp-number-id ' +
          'names, when it is sent). Key ids and secrets are credentials: only their last 4 characters are shown.',
        response: { 200: Type.Array(NumberKey), ...errorResponses('NUMBER_NOT_FOUND', ...scopeErrors) },
      },
    },
    async (request) => deps.numbers.listKeys(tenantOf(request), namedNumber(request, undefined)),
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
        description:
          'Issues a new key id and secret, shown once; the old ones stop working at once. ' +
          'x-whatsapp-number-id, when sent, must name the same number (else 400 NUMBER_MISMATCH).',
        params: Type.Object({ numberId: Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' }) }),
        response: {
          200: RegeneratedKey,
          ...errorResponses('VALIDATION_ERROR', 'NUMBER_MISMATCH', 'NUMBER_NOT_FOUND', ...scopeErrors),
        },
      },
    },
    // x-whatsapp-number-id naming another number than the path is a mismatch, as with the body (pilot-compat.md §1).
    async (request) =>
      deps.numbers.regenerateKey(
        tenantOf(request),
        namedNumber(request, request.params.numberId) ?? request.params.numberId,
      ),
  );
}
