import type { TenantId } from '../ids.ts';
import type { Db } from './db.ts';

export interface Tenant {
  id: TenantId;
  name: string;
  createdAt: string;
}

export async function insertTenant(db: Db, tenant: Tenant): Promise<void> {
  await db.execute('INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)', [
    tenant.id,
    tenant.name,
    tenant.createdAt,
  ]);
}
