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

/** Every authenticated route can answer these. */
export const AUTH_ERRORS: ErrorCode[] = ['UNAUTHORIZED', 'RATE_LIMITED'];

export const NUMBER_SECURITY: { [label: string]: string[] }[] = [{ apiKey: [] }, { apiKeyId: [] }];
