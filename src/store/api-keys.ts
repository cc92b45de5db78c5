import type { NumberId, TenantId } from '../ids.ts';
import type { Db } from './db.ts';

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

export async function listApiKeysForTenant(db: Db, tenantId: TenantId): Promise<ApiKeyRecord[]> {
  const rows = await db.query<Row>(
    `SELECT ${COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id_hash`,
    [tenantId],
  );
  return rows.map(fromRow);
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
