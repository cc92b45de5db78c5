import type { NumberId, TenantId } from '../ids.ts';
import type { NumberRecord, ProviderName } from '../model/number.ts';
import { type Db, forUpdate } from './db.ts';

interface Row {
  id: string;
  tenant_id: string;
  name: string;
  phone_number: string;
  provider: string;
  meta_phone_number_id: string | null;
  public_config: string;
  secret_config: string;
  record_calls: number;
  created_at: string;
  updated_at: string;
}

const COLUMNS =
  'id, tenant_id, name, phone_number, provider, meta_phone_number_id, public_config, secret_config, record_calls, ' +
  'created_at, updated_at';

function fromRow(r: Row): NumberRecord {
  return {
    id: r.id as NumberId,
    tenantId: r.tenant_id as TenantId,
    name: r.name,
    phoneNumber: r.phone_number,
    provider: r.provider as ProviderName,
    metaPhoneNumberId: r.meta_phone_number_id,
    publicConfig: JSON.parse(r.public_config),
    secretConfig: r.secret_config,
    recordCalls: Number(r.record_calls) === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function insertNumber(db: Db, n: NumberRecord): Promise<void> {
  await db.execute(`INSERT INTO numbers (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, [
    n.id,
    n.tenantId,
    n.name,
    n.phoneNumber,
    n.provider,
    n.metaPhoneNumberId,
    JSON.stringify(n.publicConfig),
    n.secretConfig,
    n.recordCalls ? 1 : 0,
    n.createdAt,
    n.updatedAt,
  ]);
}

export async function listNumbersForTenant(db: Db, tenantId: TenantId): Promise<NumberRecord[]> {
  return (
    await db.query<Row>(`SELECT ${COLUMNS} FROM numbers WHERE tenant_id = $1 ORDER BY created_at, id`, [tenantId])
  ).map(fromRow);
}

export async function getNumberForTenant(db: Db, tenantId: TenantId, id: string): Promise<NumberRecord | null> {
  const rows = await db.query<Row>(`SELECT ${COLUMNS} FROM numbers WHERE id = $1 AND tenant_id = $2`, [id, tenantId]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/** For a number-scoped key, whose number the auth layer already resolved. */
export async function getNumberById(db: Db, id: NumberId): Promise<NumberRecord | null> {
  const rows = await db.query<Row>(`SELECT ${COLUMNS} FROM numbers WHERE id = $1`, [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/**
 * Deletes the number with everything it owns (keys, calls, webhooks and their deliveries, its events); null when
 * it is not the tenant's. Returns the files of its calls' recordings, which the caller removes once this committed.
 */
export async function deleteNumberForTenant(
  db: Db,
  tenantId: TenantId,
  id: string,
  opts: {
    /** Deletes live calls too (force): for calls the provider can no longer end, which would hold the number for ever. */
    withLiveCalls?: boolean;
    /**
     * Open outbound attempts made after this are calls still being placed (a POST /v1/calls waiting for the
     * provider): they count as live. Older ones were left behind by a request that died or gave up.
     */
    placingSince: string;
  },
): Promise<
  | { recordingPaths: string[]; publicConfig: Record<string, unknown> }
  | { liveCallIds: string[]; callsBeingPlaced: number }
  | null
> {
  return db.transaction(async (tx) => {
    // Locked: a call being stored for this number (its FOREIGN KEY takes a share lock on this row) either committed
    // before, and is seen below, or waits for this transaction and then finds the number gone.
    const owned = await tx.query<{ public_config: string }>(
      `SELECT public_config FROM numbers WHERE id = $1 AND tenant_id = $2${forUpdate(tx)}`,
      [id, tenantId],
    );
    const [row] = owned;
    if (!row) {
      return null;
    }
    // A live call would go on at the provider with nobody left to end it, and its call.ended could reach no
    // webhook (they go with the number): the delete is refused until the calls have ended.
    const live = await tx.query<{ id: string }>(
      `SELECT id FROM calls WHERE number_id = $1 AND status IN ('INITIATED', 'RINGING', 'ACCEPTED')
       ORDER BY created_at LIMIT 100`,
      [id],
    );
    // A call being placed is not stored yet, but will be (or its request hangs it up at the provider, if it finds the
    // number gone). Its attempt was committed before the provider was asked, and its insert holds a key share on the
    // number's row (foreign key) until then, so it is seen here; one inserted after this fails for the number gone.
    const [placing] = await tx.query<{ n: number | string }>(
      'SELECT COUNT(*) AS n FROM outbound_attempts WHERE number_id = $1 AND created_at > $2',
      [id, opts.placingSince],
    );
    const callsBeingPlaced = Number(placing?.n ?? 0);
    if ((live.length > 0 || callsBeingPlaced > 0) && opts.withLiveCalls !== true) {
      return { liveCallIds: live.map((r) => r.id), callsBeingPlaced };
    }
    const recordings = await tx.query<{ recording_path: string }>(
      'SELECT recording_path FROM call_media WHERE number_id = $1 AND recording_path IS NOT NULL',
      [id],
    );
    // Keys first: a deleted number's key must stop working in the same commit.
    await tx.execute('DELETE FROM api_keys WHERE number_id = $1', [id]);
    await tx.execute('DELETE FROM tombstones WHERE number_id = $1', [id]);
    await tx.execute('DELETE FROM parked_events WHERE number_id = $1', [id]);
    await tx.execute('DELETE FROM calls WHERE number_id = $1', [id]);
    // After the calls: a provider event committing meanwhile holds its call's row lock, so its event row is there by
    // now. Nothing can read them once the number is gone (its keys, webhooks and calls are); deliveries cascade.
    await tx.execute('DELETE FROM events WHERE number_id = $1', [id]);
    await tx.execute('DELETE FROM numbers WHERE id = $1', [id]);
    return {
      recordingPaths: recordings.map((r) => r.recording_path),
      publicConfig: JSON.parse(row.public_config),
    };
  });
}

/** Sets whether the number records its server-media calls by default; false when it is not the tenant's. */
export async function setNumberRecordCallsForTenant(
  db: Db,
  tenantId: TenantId,
  id: string,
  recordCalls: boolean,
  now: string,
): Promise<boolean> {
  const changed = await db.execute(
    'UPDATE numbers SET record_calls = $3, updated_at = $4 WHERE id = $1 AND tenant_id = $2',
    [id, tenantId, recordCalls ? 1 : 0, now],
  );
  return changed > 0;
}

/** The web numbers (any tenant) whose phone is one of `phoneNumbers` (E.164), but for `exceptId`. */
export async function findWebNumbersByPhone(
  db: Db,
  phoneNumbers: string[],
  exceptId: NumberId,
): Promise<NumberRecord[]> {
  if (phoneNumbers.length === 0) {
    return [];
  }
  const placeholders = phoneNumbers.map((_, i) => `$${i + 2}`).join(', ');
  const rows = await db.query<Row>(
    `SELECT ${COLUMNS} FROM numbers WHERE provider = 'EVO_GO' AND id <> $1 AND phone_number IN (${placeholders})`,
    [exceptId, ...phoneNumbers],
  );
  return rows.map(fromRow);
}

/** Inbound Meta webhooks are routed by phone_number_id. */
export async function findMetaNumbersByPhoneNumberIds(db: Db, phoneNumberIds: string[]): Promise<NumberRecord[]> {
  if (phoneNumberIds.length === 0) {
    return [];
  }
  const placeholders = phoneNumberIds.map((_, i) => `$${i + 1}`).join(', ');
  const rows = await db.query<Row>(
    `SELECT ${COLUMNS} FROM numbers WHERE provider = 'META' AND meta_phone_number_id IN (${placeholders})`,
    phoneNumberIds,
  );
  return rows.map(fromRow);
}

export async function listMetaNumbers(db: Db): Promise<NumberRecord[]> {
  return (await db.query<Row>(`SELECT ${COLUMNS} FROM numbers WHERE provider = 'META'`)).map(fromRow);
}

/** Merges fields into a number's public config (e.g. what its provider turned out to support). */
export async function mergeNumberPublicConfig(
  db: Db,
  id: NumberId,
  patch: Record<string, unknown> | ((current: Record<string, unknown>) => Record<string, unknown>),
  now: string,
): Promise<void> {
  await db.transaction(async (tx) => {
    const rows = await tx.query<{ public_config: string }>(
      `SELECT public_config FROM numbers WHERE id = $1${tx.dialect === 'postgres' ? ' FOR UPDATE' : ''}`,
      [id],
    );
    if (!rows[0]) {
      return;
    }
    const current = JSON.parse(rows[0].public_config);
    // A function computes the patch from the locked row, for fields that are themselves maps.
    const merged = { ...current, ...(typeof patch === 'function' ? patch(current) : patch) };
    await tx.execute('UPDATE numbers SET public_config = $2, updated_at = $3 WHERE id = $1', [
      id,
      JSON.stringify(merged),
      now,
    ]);
  });
}
