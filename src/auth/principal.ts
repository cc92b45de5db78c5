import type { NumberId, TenantId } from '../ids.ts';

/** Who is calling, resolved once per request by the auth plugin. */
export type Principal =
  | { scope: 'tenant'; tenantId: TenantId; numberId: null; keyHash: string }
  | { scope: 'number'; tenantId: TenantId; numberId: NumberId; keyHash: string };

/** What a route requires, declared in its config. */
export type AuthRequirement = 'none' | 'tenant' | 'number' | 'any';
