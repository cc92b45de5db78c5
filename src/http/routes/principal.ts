// The request's principal as routes need it (set by the auth plugin from the route's `auth` config): the whole
// principal, its tenant, or the number of a number key.
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/principal.ts';
import { ApiError } from '../../errors.ts';
import type { NumberId, TenantId } from '../../ids.ts';

/** The number of a number-scoped key; the auth hook has already refused every other key. */
export function numberOf(request: FastifyRequest): NumberId {
  const p = request.principal;
  if (p?.scope !== 'number') {
    throw new ApiError('TENANT_SCOPE_NOT_ALLOWED');
  }
  return p.numberId;
}

/** The caller's principal; the auth hook has set it on every route that needs a key. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) {
    throw new ApiError('UNAUTHORIZED');
  }
  return request.principal;
}

export function tenantOf(request: FastifyRequest): TenantId {
  return principalOf(request).tenantId;
}

/** This server's origin as the caller reached it: the default base of URLs we hand to providers (PUBLIC_BASE_URL wins). */
export function originOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}
