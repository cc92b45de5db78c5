// Webhook registrations. Every finder takes the caller's scope (tenant, and the number for a
// number-scoped key) and says so in its name; secrets stay sealed in this layer.
import type { NumberId, TenantId, WebhookId } from '../ids.ts';
import { type Db, forUpdate } from './db.ts';

export interface WebhookRecord {
  id: WebhookId;
  tenantId: TenantId;
  numberId: NumberId;
  name: string | null;
  url: string;
  /** Event names, or "*" for all of them. */
  events: string[];
  active: boolean;
  /** Sealed with SecretBox. */
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: string | null;
  disabledReason: string | null;
  createdAt: string;
  updatedAt: string;
}

/** What a key may see: the whole tenant, or one number of it. */
export interface WebhookScope {
  tenantId: TenantId;
  numberId: NumberId | null;
}

interface Row {
  id: string;
  tenant_id: string;
  number_id: string;
  name: string | null;
  url: string;
  events: string;
  active: number;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: string | null;
  disabled_reason: string | null;
  created_at: string;
  updated_at: string;
}

const COLUMNS = `id, tenant_id, number_id, name, url, events, active, secret, previous_secret, previous_secret_expires_at,
  disabled_reason, created_at, updated_at`;

function fromRow(r: Row): WebhookRecord {
  return {
    id: r.id as WebhookId,
    tenantId: r.tenant_id as TenantId,
    numberId: r.number_id as NumberId,
    name: r.name,
    url: r.url,
    events: JSON.parse(r.events),
    active: Number(r.active) === 1,
    secret: r.secret,
    previousSecret: r.previous_secret,
    previousSecretExpiresAt: r.previous_secret_expires_at,
    disabledReason: r.disabled_reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** `AND number_id = $n` when the scope is one number; parameters continue after `from`. */
function scopeFilter(scope: WebhookScope, from: number): { sql: string; params: string[] } {
  return scope.numberId === null
    ? { sql: `tenant_id = $${from}`, params: [scope.tenantId] }
    : { sql: `tenant_id = $${from} AND number_id = $${from + 1}`, params: [scope.tenantId, scope.numberId] };
}

export async function insertWebhook(db: Db, w: WebhookRecord): Promise<void> {
  await db.execute(
    `INSERT INTO webhooks (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [
      w.id,
      w.tenantId,
      w.numberId,
      w.name,
      w.url,
      JSON.stringify(w.events),
      w.active ? 1 : 0,
      w.secret,
      w.previousSecret,
      w.previousSecretExpiresAt,
      w.disabledReason,
      w.createdAt,
      w.updatedAt,
    ],
  );
}

/**
 * Inserts the webhook unless its number already has `limit`; answers whether it did. The number's row is locked
 * first, so two concurrent creations cannot both take the last place.
 */
/** `onInserted` runs in the same transaction once the webhook is inserted. */
export async function insertWebhookWithinLimit(
  db: Db,
  w: WebhookRecord,
  limit: number,
  onInserted?: (tx: Db) => Promise<void>,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx.query(`SELECT id FROM numbers WHERE id = $1${forUpdate(tx)}`, [w.numberId]);
    const [row] = await tx.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM webhooks WHERE number_id = $1', [
      w.numberId,
    ]);
    if (Number(row?.n ?? 0) >= limit) {
      return false;
    }
    await insertWebhook(tx, w);
    await onInserted?.(tx);
    return true;
  });
}

export async function listWebhooksInScope(db: Db, scope: WebhookScope): Promise<WebhookRecord[]> {
  const f = scopeFilter(scope, 1);
  return (await db.query<Row>(`SELECT ${COLUMNS} FROM webhooks WHERE ${f.sql} ORDER BY created_at, id`, f.params)).map(
    fromRow,
  );
}

/**
 * `lock`: in a transaction that writes the webhook back, hold its row until the commit, so a change made meanwhile
 * (the worker turning it off after a 410, another PATCH or rotation) is not overwritten with what was read here.
 */
export async function getWebhookInScope(
  db: Db,
  scope: WebhookScope,
  id: string,
  opts: { lock?: boolean } = {},
): Promise<WebhookRecord | null> {
  const f = scopeFilter(scope, 2);
  const lock = opts.lock ? forUpdate(db) : '';
  const rows = await db.query<Row>(`SELECT ${COLUMNS} FROM webhooks WHERE id = $1 AND ${f.sql}${lock}`, [
    id,
    ...f.params,
  ]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/** Writes the mutable fields of a webhook already found in the caller's scope. */
export async function updateWebhook(db: Db, w: WebhookRecord): Promise<void> {
  await db.execute(
    `UPDATE webhooks SET name = $2, url = $3, events = $4, active = $5, secret = $6, previous_secret = $7,
       previous_secret_expires_at = $8, disabled_reason = $9, updated_at = $10 WHERE id = $1`,
    [
      w.id,
      w.name,
      w.url,
      JSON.stringify(w.events),
      w.active ? 1 : 0,
      w.secret,
      w.previousSecret,
      w.previousSecretExpiresAt,
      w.disabledReason,
      w.updatedAt,
    ],
  );
}

export async function deleteWebhookInScope(db: Db, scope: WebhookScope, id: string): Promise<boolean> {
  const f = scopeFilter(scope, 2);
  return (await db.execute(`DELETE FROM webhooks WHERE id = $1 AND ${f.sql}`, [id, ...f.params])) > 0;
}

/**
 * The webhooks that get the number's new events, with their subscriptions (the fan-out's input): the active ones and
 * the ones a user paused (their deliveries are held for the resume). Not one a 410 disabled (disabled_reason set):
 * its receiver said it is gone.
 *
 * `lock` (the fan-out, in its transaction): on PostgreSQL the rows are held FOR KEY SHARE until the commit, so a
 * webhook deleted meanwhile waits for the event instead of failing its delivery's foreign key, and with it the call
 * change that made the event.
 */
export async function listReceivingWebhooksForNumber(
  db: Db,
  numberId: NumberId,
  opts: { lock?: boolean } = {},
): Promise<{ id: WebhookId; events: string[]; active: boolean }[]> {
  const lock = opts.lock && db.dialect === 'postgres' ? ' FOR KEY SHARE' : '';
  const rows = await db.query<{ id: string; events: string; active: number | boolean }>(
    `SELECT id, events, active FROM webhooks WHERE number_id = $1 AND (active = 1 OR disabled_reason IS NULL)${lock}`,
    [numberId],
  );
  return rows.map((r) => ({ id: r.id as WebhookId, events: JSON.parse(r.events), active: Number(r.active) === 1 }));
}

/** A 410 from the receiver: the service turns the webhook off and says why. */
export async function disableWebhook(db: Db, id: WebhookId, reason: string, now: string): Promise<void> {
  await db.execute('UPDATE webhooks SET active = 0, disabled_reason = $2, updated_at = $3 WHERE id = $1', [
    id,
    reason,
    now,
  ]);
}
