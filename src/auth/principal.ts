// Who is calling and what a route lets them do: the principal a key resolves to and the one scope rule, used by
// the auth plugin; routes read the result through http/routes/principal.ts.
import type { NumberId, TenantId } from '../ids.ts';

/** Who is calling, resolved once per request by the auth plugin. */
export type Principal =
  | { scope: 'tenant'; tenantId: TenantId; numberId: null; keyHash: string }
  | { scope: 'number'; tenantId: TenantId; numberId: NumberId; keyHash: string };

/** What a route requires, declared in its config. */
export type AuthRequirement = 'none' | 'tenant' | 'number' | 'any';

/** A number's key speaks for that number only; a key without a number speaks for its whole tenant. */
export function principalForKey(key: { tenantId: TenantId; numberId: NumberId | null; idHash: string }): Principal {
  return key.numberId
    ? { scope: 'number', tenantId: key.tenantId, numberId: key.numberId, keyHash: key.idHash }
    : { scope: 'tenant', tenantId: key.tenantId, numberId: null, keyHash: key.idHash };
}

/** Why the principal may not call a route that requires `requirement` (the spec's code), or null when it may. */
export function scopeRefusal(
  requirement: AuthRequirement,
  p: Principal,
): 'TENANT_SCOPE_NOT_ALLOWED' | 'NUMBER_SCOPE_NOT_ALLOWED' | null {
  if (requirement === 'number' && p.scope !== 'number') {
    return 'TENANT_SCOPE_NOT_ALLOWED';
  }
  if (requirement === 'tenant' && p.scope !== 'tenant') {
    return 'NUMBER_SCOPE_NOT_ALLOWED';
  }
  return null;
}
