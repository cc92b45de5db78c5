import type { CallId, NumberId, TenantId } from '../ids.ts';
import type { BusinessActionKind, Call, CallStatus, Direction, EndedBy } from '../model/call.ts';
import type { Db, SqlValue } from './db.ts';
import { forUpdate } from './db.ts';

interface Row {
  id: string;
  number_id: string;
  tenant_id: string;
  external_call_id: string;
  direction: string;
  status: string;
  peer_number: string;
  duration_seconds: number | null;
  started_at: string;
  connected_at: string | null;
  ended_at: string | null;
  ended_by: string | null;
  end_reason: string | null;
  biz_opaque_callback_data: string | null;
  sdp_offer: string | null;
  sdp_answer: string | null;
  event_seq: number;
  action_id: string | null;
  action_kind: string | null;
  action_started_at: string | null;
  created_at: string;
  updated_at: string;
  max_duration_seconds: number | null;
  provider_data: string | null;
  peer_user_id: string | null;
  peer_lid: string | null;
}

const COLUMNS = `id, number_id, tenant_id, external_call_id, direction, status, peer_number, duration_seconds, started_at,
  connected_at, ended_at, ended_by, end_reason, biz_opaque_callback_data, sdp_offer, sdp_answer, event_seq,
  action_id, action_kind, action_started_at, created_at, updated_at, max_duration_seconds, provider_data, peer_user_id,
  peer_lid`;
// Lists carry no SDPs (kilobytes each), only whether there is one ('' stands for "present"): media: "relay".
const LIST_COLUMNS = COLUMNS.replace(
  'sdp_offer, sdp_answer',
  "CASE WHEN sdp_offer IS NULL THEN NULL ELSE '' END AS sdp_offer, " +
    "CASE WHEN sdp_answer IS NULL THEN NULL ELSE '' END AS sdp_answer",
);

function fromRow(r: Row): Call {
  return {
    id: r.id as CallId,
    numberId: r.number_id as NumberId,
    tenantId: r.tenant_id as TenantId,
    externalCallId: r.external_call_id,
    direction: r.direction as Direction,
    status: r.status as CallStatus,
    // '' is how a caller without a known phone number is stored (the column predates them and is NOT NULL).
    peerNumber: r.peer_number === '' || r.peer_number === null ? null : r.peer_number,
    peerUserId: r.peer_user_id ?? null,
    peerLid: r.peer_lid ?? null,
    durationSeconds: r.duration_seconds === null ? null : Number(r.duration_seconds),
    startedAt: r.started_at,
    connectedAt: r.connected_at,
    endedAt: r.ended_at,
    endedBy: r.ended_by as EndedBy | null,
    endReason: r.end_reason,
    bizOpaqueCallbackData: r.biz_opaque_callback_data,
    sdpOffer: r.sdp_offer,
    sdpAnswer: r.sdp_answer,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    eventSeq: Number(r.event_seq),
    maxDurationSeconds: r.max_duration_seconds === null ? null : Number(r.max_duration_seconds),
    providerData: r.provider_data ? JSON.parse(r.provider_data) : null,
    pendingAction: r.action_id
      ? { id: r.action_id, kind: r.action_kind as BusinessActionKind, startedAt: r.action_started_at ?? '' }
      : null,
  };
}

/** `lock: true` inside a transaction: the row stays ours until it ends (FOR UPDATE on PostgreSQL). */
export interface RowLock {
  lock?: boolean;
}

/** By our id or the provider's id, only inside the given number. */
export async function findCallForNumber(
  db: Db,
  numberId: NumberId,
  idOrExternal: string,
  { lock = false }: RowLock = {},
): Promise<Call | null> {
  const rows = await db.query<Row>(
    `SELECT ${COLUMNS} FROM calls WHERE number_id = $1 AND (id = $2 OR external_call_id = $2)${lock ? forUpdate(db) : ''}`,
    [numberId, idOrExternal],
  );
  // Our ids and provider ids never collide in practice; prefer our id if they ever do.
  const row = rows.find((r) => r.id === idOrExternal) ?? rows[0];
  return row ? fromRow(row) : null;
}

export async function findCallByExternalIdForNumber(
  db: Db,
  numberId: NumberId,
  externalCallId: string,
  { lock = false }: RowLock = {},
): Promise<Call | null> {
  const rows = await db.query<Row>(
    `SELECT ${COLUMNS} FROM calls WHERE number_id = $1 AND external_call_id = $2${lock ? forUpdate(db) : ''}`,
    [numberId, externalCallId],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

/** Where a page starts: strictly before a time, or strictly before a call (exact, even within one millisecond). */
export type PageCursor = { before: string } | { beforeCall: { createdAt: string; id: string } } | null;

/** Narrows a list: statuses (any of), and digits the peer's number contains. */
export interface CallFilter {
  statuses?: readonly CallStatus[];
  peerDigits?: string;
}

export async function listCallsForNumber(
  db: Db,
  numberId: NumberId,
  opts: { limit: number; cursor: PageCursor; filter?: CallFilter },
): Promise<Call[]> {
  const where = ['number_id = $1'];
  const params: SqlValue[] = [numberId];
  const param = (value: SqlValue): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const c = opts.cursor;
  if (c !== null && 'before' in c) {
    where.push(`created_at < ${param(c.before)}`);
  } else if (c !== null) {
    const at = param(c.beforeCall.createdAt);
    where.push(`(created_at < ${at} OR (created_at = ${at} AND id < ${param(c.beforeCall.id)}))`);
  }
  const statuses = opts.filter?.statuses ?? [];
  if (statuses.length > 0) {
    where.push(`status IN (${statuses.map((s) => param(s)).join(', ')})`);
  }
  const digits = opts.filter?.peerDigits ?? '';
  if (digits !== '') {
    // Digits only (the route's schema says so): no LIKE wildcard can reach the pattern.
    where.push(`peer_number LIKE ${param(`%${digits.replace(/[^0-9]/g, '')}%`)}`);
  }
  const rows = await db.query<Row>(
    `SELECT ${LIST_COLUMNS} FROM calls WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ${param(opts.limit)}`,
    params,
  );
  return rows.map(fromRow);
}

export async function insertCall(db: Db, c: Call): Promise<void> {
  await db.execute(
    `INSERT INTO calls (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)`,
    [
      c.id,
      c.numberId,
      c.tenantId,
      c.externalCallId,
      c.direction,
      c.status,
      c.peerNumber ?? '',
      c.durationSeconds,
      c.startedAt,
      c.connectedAt,
      c.endedAt,
      c.endedBy,
      c.endReason,
      c.bizOpaqueCallbackData,
      c.sdpOffer,
      c.sdpAnswer,
      c.eventSeq,
      c.pendingAction?.id ?? null,
      c.pendingAction?.kind ?? null,
      c.pendingAction?.startedAt ?? null,
      c.createdAt,
      c.updatedAt,
      c.maxDurationSeconds,
      c.providerData ? JSON.stringify(c.providerData) : null,
      c.peerUserId,
      c.peerLid,
    ],
  );
}

/** Writes the mutable fields of a call read earlier in the same transaction. */
export async function updateCall(db: Db, c: Call): Promise<void> {
  await db.execute(
    `UPDATE calls SET status = $2, duration_seconds = $3, connected_at = $4, ended_at = $5, ended_by = $6,
      end_reason = $7, sdp_offer = $8, sdp_answer = $9, event_seq = $10, action_id = $11, action_kind = $12,
      action_started_at = $13, updated_at = $14, provider_data = $15 WHERE id = $1`,
    [
      c.id,
      c.status,
      c.durationSeconds,
      c.connectedAt,
      c.endedAt,
      c.endedBy,
      c.endReason,
      c.sdpOffer,
      c.sdpAnswer,
      c.eventSeq,
      c.pendingAction?.id ?? null,
      c.pendingAction?.kind ?? null,
      c.pendingAction?.startedAt ?? null,
      c.updatedAt,
      c.providerData ? JSON.stringify(c.providerData) : null,
    ],
  );
}

/**
 * Takes the call's single business-action slot. Succeeds for exactly one caller among any number
 * of concurrent ones (one atomic UPDATE), or for a caller finding an abandoned slot past its lease.
 */
export async function claimCallAction(
  db: Db,
  callId: CallId,
  action: { id: string; kind: BusinessActionKind; startedAt: string },
  leaseExpiredBefore: string,
  /** The states the action is for: the call must still be in one when the slot is taken (active ones by default). */
  statuses: readonly CallStatus[] = ACTIVE_STATUSES,
): Promise<boolean> {
  const inStatus = statuses.map((_, i) => `$${i + 6}`).join(', ');
  const changed = await db.execute(
    `UPDATE calls SET action_id = $2, action_kind = $3, action_started_at = $4, action_error = NULL
      WHERE id = $1 AND status IN (${inStatus}) AND (action_id IS NULL OR action_started_at < $5)`,
    // Not durable by itself: visible to every process at once, and the settle or release that follows (durable)
    // covers it; lost in a power cut, it only lets the action be taken again, which ends as "already ended".
    [callId, action.id, action.kind, action.startedAt, leaseExpiredBefore, ...statuses],
    { durable: false },
  );
  return changed === 1;
}

const ACTIVE_STATUSES: readonly CallStatus[] = ['INITIATED', 'RINGING', 'ACCEPTED'];

/** Gives the slot back after a failed action, leaving the outcome for requests that waited on it. */
export async function releaseCallAction(db: Db, callId: CallId, actionId: string, error: string | null): Promise<void> {
  await db.execute(
    `UPDATE calls SET action_id = NULL, action_kind = NULL, action_started_at = NULL, action_error = $3
      WHERE id = $1 AND action_id = $2`,
    [callId, actionId, error],
  );
}

export interface ActionSlot {
  status: CallStatus;
  endedBy: EndedBy | null;
  actionId: string | null;
  actionKind: BusinessActionKind | null;
  actionError: string | null;
}

export async function readActionSlot(db: Db, callId: CallId): Promise<ActionSlot | null> {
  const rows = await db.query<{
    status: string;
    ended_by: string | null;
    action_id: string | null;
    action_kind: string | null;
    action_error: string | null;
  }>('SELECT status, ended_by, action_id, action_kind, action_error FROM calls WHERE id = $1', [callId]);
  const r = rows[0];
  return r
    ? {
        status: r.status as CallStatus,
        endedBy: r.ended_by as EndedBy | null,
        actionId: r.action_id,
        actionKind: r.action_kind as BusinessActionKind | null,
        actionError: r.action_error,
      }
    : null;
}

/**
 * Serialises every transaction about one provider call id, on PostgreSQL, until commit: an event that
 * finds no call (and parks itself) and the insert of that call can then never miss each other.
 * SQLite transactions are already serialised.
 */
export async function lockProviderCall(tx: Db, numberId: NumberId, externalCallId: string): Promise<void> {
  if (tx.dialect !== 'postgres') {
    return;
  }
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`${numberId}:${externalCallId}`]);
}

/**
 * Holds the call's row until commit, on PostgreSQL: a change that ends the call waits for this transaction, so what
 * it writes about the call as it is now lands before that end (SQLite transactions are already serialised).
 */
export async function lockCallRow(tx: Db, callId: CallId): Promise<void> {
  if (tx.dialect === 'postgres') {
    await tx.query('SELECT id FROM calls WHERE id = $1 FOR UPDATE', [callId]);
  }
}

/** Calls still ringing (or not yet ringing) that started before the cutoff, oldest first: the sweeper's work. */
export async function listRingingStartedBefore(
  db: Db,
  cutoff: string,
  limit: number,
): Promise<{ id: CallId; numberId: NumberId }[]> {
  const rows = await db.query<{ id: CallId; number_id: NumberId }>(
    `SELECT id, number_id FROM calls WHERE status IN ('INITIATED', 'RINGING') AND started_at < $1 ORDER BY started_at LIMIT ${Number(limit)}`,
    [cutoff],
  );
  return rows.map((r) => ({ id: r.id, numberId: r.number_id }));
}

/** Answered calls of web numbers connected and left unchanged since before `cutoff`, oldest first. */
export async function listWebCallsAnsweredBefore(
  db: Db,
  cutoff: string,
  limit: number,
  after?: { connectedAt: string; id: CallId },
): Promise<{ id: CallId; numberId: NumberId; connectedAt: string }[]> {
  const page = after ? 'AND (c.connected_at > $2 OR (c.connected_at = $2 AND c.id > $3))' : '';
  const rows = await db.query<{ id: CallId; number_id: NumberId; connected_at: string }>(
    `SELECT c.id, c.number_id, c.connected_at FROM calls c JOIN numbers n ON n.id = c.number_id
      WHERE c.status = 'ACCEPTED' AND c.connected_at < $1 AND c.updated_at < $1 AND n.provider = 'EVO_GO' ${page}
      ORDER BY c.connected_at, c.id LIMIT ${Number(limit)}`,
    after ? [cutoff, after.connectedAt, after.id] : [cutoff],
  );
  return rows.map((r) => ({ id: r.id, numberId: r.number_id, connectedAt: r.connected_at }));
}

/**
 * Answered calls that have a maximum duration, longest-connected first, a page at a time (`after`: the last row of
 * the page before); the caller checks which are over it.
 */
export async function listAnsweredWithMaxDuration(
  db: Db,
  limit: number,
  after?: { connectedAt: string; id: CallId },
): Promise<{ id: CallId; numberId: NumberId; connectedAt: string; maxDurationSeconds: number }[]> {
  const page = after ? 'AND (connected_at > $1 OR (connected_at = $1 AND id > $2))' : '';
  const rows = await db.query<{ id: CallId; number_id: NumberId; connected_at: string; max_duration_seconds: number }>(
    `SELECT id, number_id, connected_at, max_duration_seconds FROM calls
      WHERE status = 'ACCEPTED' AND max_duration_seconds IS NOT NULL ${page}
      ORDER BY connected_at, id LIMIT ${Number(limit)}`,
    after ? [after.connectedAt, after.id] : [],
  );
  return rows.map((r) => ({
    id: r.id,
    numberId: r.number_id,
    connectedAt: r.connected_at,
    maxDurationSeconds: Number(r.max_duration_seconds),
  }));
}
