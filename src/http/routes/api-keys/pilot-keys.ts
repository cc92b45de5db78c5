// Pilot's key routes (docs/spec/pilot-compat.md §4): create a number's key if it has none, and regenerate it
// naming the number in the body (or the x-whatsapp-number-id header) instead of the path.
import { ApiError } from '../../../errors.ts';
import { answerOnStored } from '../../plugins/idempotency.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { RegeneratedKey } from '../../schemas/number.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { namedNumber } from '../number-header.ts';
import { tenantOf } from '../principal.ts';

const Body = Type.Object(
  { whatsappNumberId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' })) },
  { additionalProperties: false },
);
const base = { tags: ['API keys'], security: NUMBER_SECURITY };
const errors = [
  'VALIDATION_ERROR',
  'NUMBER_REQUIRED',
  'NUMBER_MISMATCH',
  'NUMBER_NOT_FOUND',
  'NUMBER_SCOPE_NOT_ALLOWED',
  ...AUTH_ERRORS,
] as const;

/** A Pilot client naming the number in the header may send no body at all. */
async function noBodyIsEmpty(request: { body: unknown }): Promise<void> {
  if (request.body === undefined || request.body === null) {
    request.body = {};
  }
}

function targetNumber(request: Parameters<typeof namedNumber>[0], body: { whatsappNumberId?: string }) {
  const numberId = namedNumber(request, body.whatsappNumberId);
  if (numberId === undefined) {
    throw new ApiError('NUMBER_REQUIRED');
  }
  return numberId;
}

export function pilotApiKeyRoutes(app: App, deps: RouteDeps): void {
  app.post(
    '/v1/api-keys',
    {
      config: { auth: 'tenant' },
      preValidation: noBodyIsEmpty,
      schema: {
        ...base,
        summary: "Create a number's key",
        operationId: 'createApiKey',
        description: 'Issues the key of a number that has none; the key is shown this once. A number has one key.',
        body: Body,
        response: {
          201: Type.Object({ numberId: Type.String(), keyId: Type.String(), key: Type.String() }),
          ...errorResponses(...errors, 'API_KEY_EXISTS'),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await deps.numbers.createKey(
            tenantOf(request),
            targetNumber(request, request.body),
            answerOnStored(request, reply, 201),
          ),
        ),
  );

  app.post(
    '/v1/api-keys/regenerate',
    {
      config: { auth: 'tenant' },
      preValidation: noBodyIsEmpty,
      schema: {
        ...base,
        summary: "Regenerate a number's key (Pilot form)",
        operationId: 'regenerateApiKeyByNumber',
        description: 'Issues a new key id and secret, shown once; the old ones stop working at once.',
        body: Body,
        response: { 200: RegeneratedKey, ...errorResponses(...errors) },
      },
    },
    async (request) => deps.numbers.regenerateKey(tenantOf(request), targetNumber(request, request.body)),
  );
}
