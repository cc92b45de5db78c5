import type { NumberId, TenantId } from '../ids.ts';
import { type Db, isUniqueViolation } from './db.ts';

export interface ApiKeyRecord {
  idHash: string;
  secretHash: string;
  tenantId: TenantId;
  numberId: NumberId | null;
  keyIdLast4: string;
  keyLast4: string;
  createdAt: string;
  lastUsedAt: string | null;
}

interface Row {
  id_hash: string;
  secret_hash: string;
  tenant_id: string;
  number_id: string | null;
  key_id_last4: string;
  key_last4: string;
  created_at: string;
  last_used_at: string | null;
}

const COLUMNS = 'id_hash, secret_hash, tenant_id, number_id, key_id_last4, key_last4, created_at, last_used_at';

function fromRow(r: Row): ApiKeyRecord {
  return {
    idHash: r.id_hash,
    secretHash: r.secret_hash,
    tenantId: r.tenant_id as TenantId,
    numberId: r.number_id as NumberId | null,
    keyIdLast4: r.key_id_last4,
    keyLast4: r.key_last4,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
  };
}

export async function insertApiKey(db: Db, k: ApiKeyRecord): Promise<void> {
  await db.execute(`INSERT INTO api_keys (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
    k.idHash,
    k.secretHash,
    k.tenantId,
    k.numberId,
    k.keyIdLast4,
    k.keyLast4,
    k.createdAt,
    k.lastUsedAt,
  ]);
}

export async function findApiKeyBySecretHash(db: Db, hash: string): Promise<ApiKeyRecord | null> {
  const rows = await db.query<Row>(`SELECT ${COLUMNS} FROM api_keys WHERE secret_hash = $1`, [hash]);
  return rows[0] ? fromRow(rows[0]) : null;
}

export async function findApiKeyByIdHash(db: Db, hash: string): Promise<ApiKeyRecord | null> {
  const rows = await db.query<Row>(`SELECT ${COLUMNS} FROM api_keys WHERE id_hash = $1`, [hash]);
  return rows[0] ? fromRow(rows[0]) : null;
}

export async function touchApiKey(db: Db, idHash: string, at: string): Promise<void> {
  await db.execute('UPDATE api_keys SET last_used_at = $2 WHERE id_hash = $1', [idHash, at]);
}

/** Swaps the number's key for a new one; the old id and secret stop working in the same commit. */
export async function replaceNumberKeyForTenant(
  db: Db,
  tenantId: TenantId,
  numberId: NumberId,
  fresh: ApiKeyRecord,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const owned = await tx.query('SELECT id FROM numbers WHERE id = $1 AND tenant_id = $2', [numberId, tenantId]);
    if (owned.length === 0) {
      return false;
    }
    await tx.execute('DELETE FROM api_keys WHERE number_id = $1', [numberId]);
    await insertApiKey(tx, fresh);
    return true;
  });
}

/**
 * Swaps the tenant's own key (a leaked one) for a new one; the old id and secret stop working in the same commit.
 * False when the store has no such tenant.
 */
export async function replaceTenantKey(db: Db, tenantId: TenantId, fresh: ApiKeyRecord): Promise<boolean> {
  return db.transaction(async (tx) => {
    if ((await tx.query('SELECT id FROM tenants WHERE id = $1', [tenantId])).length === 0) {
      return false;
    }
    await tx.execute('DELETE FROM api_keys WHERE tenant_id = $1 AND number_id IS NULL', [tenantId]);
    await insertApiKey(tx, fresh);
    return true;
  });
}

/** One row per number of the tenant with its key, if it has one (Pilot's key list). */
export interface NumberKeyRow {
  numberId: NumberId;
  phoneNumber: string;
  name: string;
  key: Pick<ApiKeyRecord, 'keyIdLast4' | 'keyLast4' | 'createdAt' | 'lastUsedAt'> | null;
}

export async function listNumberKeysForTenant(db: Db, tenantId: TenantId): Promise<NumberKeyRow[]> {
  const rows = await db.query<{
    id: string;
    phone_number: string;
    name: string;
    key_id_last4: string | null;
    key_last4: string | null;
    created_at: string | null;
    last_used_at: string | null;
  }>(
    `SELECT n.id, n.phone_number, n.name, k.key_id_last4, k.key_last4, k.created_at, k.last_used_at
     FROM numbers n LEFT JOIN api_keys k ON k.number_id = n.id
     WHERE n.tenant_id = $1 ORDER BY n.created_at, n.id`,
    [tenantId],
  );
  return rows.map((r) => ({
    numberId: r.id as NumberId,
    phoneNumber: r.phone_number,
    name: r.name,
    key:
      r.key_id_last4 === null || r.key_last4 === null || r.created_at === null
        ? null
        : { keyIdLast4: r.key_id_last4, keyLast4: r.key_last4, createdAt: r.created_at, lastUsedAt: r.last_used_at },
  }));
}

/** Gives a number of the tenant its key unless it has one; the unique index settles a race the same way. */
export async function insertNumberKeyIfAbsentForTenant(
  db: Db,
  tenantId: TenantId,
  numberId: NumberId,
  fresh: ApiKeyRecord,
  /** Runs in the same transaction once the key is inserted. */
  onInserted?: (tx: Db) => Promise<void>,
): Promise<'created' | 'exists' | 'no-number'> {
  try {
    return await db.transaction(async (tx) => {
      const owned = await tx.query('SELECT id FROM numbers WHERE id = $1 AND tenant_id = $2', [numberId, tenantId]);
      if (owned.length === 0) {
        return 'no-number' as const;
      }
      if ((await tx.query('SELECT 1 AS one FROM api_keys WHERE number_id = $1', [numberId])).length > 0) {
        return 'exists' as const;
      }
      await insertApiKey(tx, fresh);
      await onInserted?.(tx);
      return 'created' as const;
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      return 'exists';
    }
    throw error;
  }
}
