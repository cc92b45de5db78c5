import type { TSchema } from 'typebox';
import { ERRORS, type ErrorCode } from '../../errors.ts';
import { Type } from './type.ts';

export const ErrorEnvelope = Type.Object(
  {
    error: Type.String(),
    code: Type.String(),
    details: Type.Optional(
      Type.Object(
        {},
        {
          additionalProperties: true,
          description:
            'VALIDATION_ERROR from the schema: {"issues": [{"in": "body"|"querystring"|"params"|"headers", ' +
            '"path": "/events/0", "message": "..."}]}, every problem listed up to 20 (then "truncated": true). Other errors may carry "reason", ' +
            '"field", or the provider\'s "providerCode" and "providerMessage".',
        },
      ),
    ),
    requestId: Type.Optional(Type.String()),
  },
  {
    $id: 'ErrorEnvelope',
    description: 'Every error: a human text, a stable code, optional details and the request id.',
  },
);

const errorRef = Type.Ref('ErrorEnvelope');

/** Response map entries for the error codes a route can answer, grouped by status. */
export function errorResponses(...codes: ErrorCode[]): Record<number, TSchema> {
  const byStatus: Record<number, TSchema> = {};
  for (const code of codes) {
    const status = ERRORS[code].status;
    const listed = codes.filter((c) => ERRORS[c].status === status).join(', ');
    byStatus[status] = { ...errorRef, description: listed };
  }
  return byStatus;
}

/**
 * Every authenticated POST can answer these besides its own: its Idempotency-Key in use or reused, and a store that
 * cannot take the key's write (src/http/plugins/idempotency.ts).
 */
export const IDEMPOTENT_POST_ERRORS: ErrorCode[] = [
  'IDEMPOTENCY_IN_PROGRESS',
  'IDEMPOTENCY_KEY_REUSED',
  'STORE_UNAVAILABLE',
];

/** Every other authenticated route: the store its key is read from, or its change written to, cannot answer. */
export const STORE_ERRORS: ErrorCode[] = ['STORE_UNAVAILABLE'];

/** `responses` with `codes` added: a status already described gets the code appended to its list. */
export function withErrorResponses(
  responses: Record<number, unknown>,
  codes: readonly ErrorCode[],
): Record<number, unknown> {
  const merged = { ...responses };
  for (const code of codes) {
    const status = ERRORS[code].status;
    const given = merged[status] as { description?: string } | undefined;
    if (!given) {
      merged[status] = { ...errorRef, description: code };
    } else if (!given.description?.split(', ').includes(code)) {
      merged[status] = { ...given, description: given.description ? `${given.description}, ${code}` : code };
    }
  }
  return merged;
}

/** Every authenticated route can answer these. */
export const AUTH_ERRORS: ErrorCode[] = ['UNAUTHORIZED', 'RATE_LIMITED'];

export const NUMBER_SECURITY: { [label: string]: string[] }[] = [{ apiKey: [] }, { apiKeyId: [] }];

/** A DELETE's answer: Pilot answers 200 with JSON, so a client that parses every answer never meets an empty body. */
export const Deleted = Type.Object({
  success: Type.Literal(true),
  id: Type.String({ description: 'The id of what was deleted' }),
});
