// Pilot's `x-whatsapp-number-id` header (docs/spec/pilot-compat.md §1): with a tenant key it names the target
// number like the body's whatsappNumberId does; a number key's own number always wins, so the header is ignored.
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.ts';

export const NUMBER_HEADER = 'x-whatsapp-number-id';

/** The number a tenant-key request targets: the body's, the header's, or undefined when neither names one. */
export function namedNumber(request: FastifyRequest, fromBody: string | undefined): string | undefined {
  if (request.principal?.scope === 'number') {
    return fromBody;
  }
  const raw = request.headers[NUMBER_HEADER];
  const fromHeader = typeof raw === 'string' && raw.length > 0 ? raw : undefined;
  if (fromHeader !== undefined && fromBody !== undefined && fromHeader !== fromBody) {
    throw new ApiError('NUMBER_MISMATCH', {
      message: 'x-whatsapp-number-id and whatsappNumberId name different numbers',
    });
  }
  return fromBody ?? fromHeader;
}
