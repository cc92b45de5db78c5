// The call_media table: server-media calls, the process holding their media, and their recordings.
import type { CallId, NumberId } from '../ids.ts';
import type { Db } from './db.ts';

export type RecordingStatus = 'recording' | 'ready' | 'failed' | 'deleted';

export interface CallMedia {
  callId: CallId;
  numberId: NumberId;
  media: 'server';
  mediaNode: string | null;
  recording: {
    status: RecordingStatus;
    path: string;
    /** The id of the RECORDINGS_DIR it was written to (src/media/engine/recordings-volume.ts); null: not known. */
    volume: string | null;
    durationSeconds: number | null;
    sizeBytes: number | null;
  } | null;
}

interface Row {
  call_id: string;
  number_id: string;
  media: string;
  media_node: string | null;
  recording_status: string | null;
  recording_path: string | null;
  recording_volume: string | null;
  recording_duration_seconds: number | null;
  recording_size_bytes: number | string | null;
}

const COLUMNS =
  'call_id, number_id, media, media_node, recording_status, recording_path, recording_volume, recording_duration_seconds, recording_size_bytes';

function fromRow(r: Row): CallMedia {
  return {
    callId: r.call_id as CallId,
    numberId: r.number_id as NumberId,
    media: 'server',
    mediaNode: r.media_node,
    recording:
      r.recording_status && r.recording_path
        ? {
            status: r.recording_status as RecordingStatus,
            path: r.recording_path,
            volume: r.recording_volume,
            durationSeconds: r.recording_duration_seconds === null ? null : Number(r.recording_duration_seconds),
            sizeBytes: r.recording_size_bytes === null ? null : Number(r.recording_size_bytes),
          }
        : null,
  };
}

/**
 * Records that `mediaNode` holds the call's media. With `beat`, the node's heartbeat goes in the same transaction
 * (one durable write): a row naming a node without a fresh heartbeat reads as lost to the other processes. An
 * upsert, so a call whose first answer the provider refused can be answered again.
 */
export async function holdCallMedia(
  db: Db,
  m: {
    callId: CallId;
    numberId: NumberId;
    mediaNode: string;
    recordingPath: string | null;
    recordingVolume: string | null;
    now: string;
    beat: boolean;
  },
): Promise<void> {
  const write = async (tx: Db) => {
    if (m.beat) {
      await beatMediaNode(tx, m.mediaNode, m.now);
    }
    await tx.execute(
      `INSERT INTO call_media (call_id, number_id, media, media_node, recording_status, recording_path,
          recording_volume, created_at, updated_at)
        VALUES ($1, $2, 'server', $3, $4, $5, $6, $7, $7)
        ON CONFLICT (call_id) DO UPDATE SET media_node = excluded.media_node,
          recording_status = excluded.recording_status, recording_path = excluded.recording_path,
          recording_volume = excluded.recording_volume,
          recording_duration_seconds = NULL, recording_size_bytes = NULL, updated_at = excluded.updated_at`,
      [
        m.callId,
        m.numberId,
        m.mediaNode,
        m.recordingPath ? 'recording' : null,
        m.recordingPath,
        m.recordingPath ? m.recordingVolume : null,
        m.now,
      ],
    );
  };
  await (m.beat ? db.transaction(write) : write(db));
}

/** The call will not have server media after all (its answer was refused): no row may say it does. */
export async function deleteCallMedia(db: Db, callId: CallId): Promise<void> {
  await db.execute('DELETE FROM call_media WHERE call_id = $1', [callId]);
}

export async function findCallMediaForNumber(db: Db, numberId: NumberId, callId: CallId): Promise<CallMedia | null> {
  const rows = await db.query<Row>(`SELECT ${COLUMNS} FROM call_media WHERE number_id = $1 AND call_id = $2`, [
    numberId,
    callId,
  ]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/** For a page of calls: the server-media ones among them. */
export async function listCallMediaForNumber(db: Db, numberId: NumberId, callIds: CallId[]): Promise<CallMedia[]> {
  if (callIds.length === 0) {
    return [];
  }
  const marks = callIds.map((_, i) => `$${i + 2}`).join(', ');
  const rows = await db.query<Row>(`SELECT ${COLUMNS} FROM call_media WHERE number_id = $1 AND call_id IN (${marks})`, [
    numberId,
    ...callIds,
  ]);
  return rows.map(fromRow);
}

/** Answers whether the row changed; `whileRecording` changes only a recording still in progress. */
export async function updateRecording(
  db: Db,
  callId: CallId,
  r: { status: RecordingStatus; durationSeconds: number | null; sizeBytes: number | null; now: string },
  opts: { whileRecording?: boolean } = {},
): Promise<boolean> {
  const only = opts.whileRecording ? " AND recording_status = 'recording'" : '';
  return (
    (await db.execute(
      `UPDATE call_media SET recording_status = $2, recording_duration_seconds = $3, recording_size_bytes = $4,
      updated_at = $5 WHERE call_id = $1${only}`,
      [callId, r.status, r.durationSeconds, r.sizeBytes, r.now],
    )) > 0
  );
}

export interface FinishedRecordingRow {
  callId: CallId;
  numberId: NumberId;
  status: 'ready' | 'failed';
  path: string;
  volume: string | null;
  finishedAt: string;
}

/**
 * Recordings that finished (ready or failed) before `cutoff`, oldest first, after the (finishedAt, callId) given:
 * those in the RECORDINGS_DIR whose id is `volume`, and those made before ids were kept (their path says where).
 */
export async function listRecordingsFinishedBefore(
  db: Db,
  cutoff: string,
  volume: string | null,
  limit: number,
  after: { finishedAt: string; callId: CallId } | null,
): Promise<FinishedRecordingRow[]> {
  const rows = await db.query<{
    call_id: string;
    number_id: string;
    recording_status: 'ready' | 'failed';
    recording_path: string;
    recording_volume: string | null;
    updated_at: string;
  }>(
    `SELECT call_id, number_id, recording_status, recording_path, recording_volume, updated_at FROM call_media
      WHERE recording_status IN ('ready', 'failed') AND updated_at < $1
        AND (recording_volume IS NULL OR recording_volume = $2)
        AND (updated_at > $3 OR (updated_at = $3 AND call_id > $4))
      ORDER BY updated_at, call_id LIMIT $5`,
    [cutoff, volume ?? '', after?.finishedAt ?? '', after?.callId ?? '', limit],
  );
  return rows.map((r) => ({
    callId: r.call_id as CallId,
    numberId: r.number_id as NumberId,
    status: r.recording_status,
    path: r.recording_path,
    volume: r.recording_volume,
    finishedAt: r.updated_at,
  }));
}

/** A finished recording whose file is gone becomes "deleted", unless it changed since it was read. */
export async function markRecordingExpired(
  db: Db,
  callId: CallId,
  was: { status: 'ready' | 'failed'; finishedAt: string },
  now: string,
): Promise<boolean> {
  return (
    (await db.execute(
      `UPDATE call_media SET recording_status = 'deleted', recording_size_bytes = NULL, updated_at = $4
        WHERE call_id = $1 AND recording_status = $2 AND updated_at = $3`,
      [callId, was.status, was.finishedAt, now],
    )) > 0
  );
}

/**
 * Status (and, for outbound calls still waiting for it, the peer's SDP answer) of the given calls, so the engine
 * can close the media of calls that ended anywhere and connect the ones that were answered.
 */
export async function findCallStatuses(
  db: Db,
  callIds: string[],
): Promise<Map<string, { status: string; sdpAnswer: string | null }>> {
  if (callIds.length === 0) {
    return new Map();
  }
  const marks = callIds.map((_, i) => `$${i + 1}`).join(', ');
  const rows = await db.query<{ id: string; status: string; sdp_answer: string | null }>(
    `SELECT id, status, sdp_answer FROM calls WHERE id IN (${marks})`,
    callIds,
  );
  return new Map(rows.map((r) => [r.id, { status: r.status, sdpAnswer: r.sdp_answer }]));
}

/** This process is alive and holds media (upsert of its heartbeat). */
export async function beatMediaNode(db: Db, node: string, now: string): Promise<void> {
  await db.execute(
    `INSERT INTO media_nodes (node, heartbeat_at) VALUES ($1, $2)
      ON CONFLICT (node) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
    [node, now],
  );
}

/** The node's last heartbeat (ISO text), or null: it never beat, or it shut down cleanly and dropped its row. */
export async function findMediaNodeBeat(db: Db, node: string): Promise<string | null> {
  const rows = await db.query<{ heartbeat_at: string }>('SELECT heartbeat_at FROM media_nodes WHERE node = $1', [node]);
  return rows[0]?.heartbeat_at ?? null;
}

/** A clean shutdown: the node's calls are lost at once rather than after the heartbeat goes stale. */
export async function forgetMediaNode(db: Db, node: string): Promise<void> {
  await db.execute('DELETE FROM media_nodes WHERE node = $1', [node]);
}

/** Live calls whose media another process held and that process has stopped beating since `staleBefore`. */
export async function findLostMediaCalls(
  db: Db,
  node: string,
  staleBefore: string,
): Promise<{ callId: CallId; numberId: NumberId }[]> {
  const rows = await db.query<{ call_id: string; number_id: string }>(
    `SELECT cm.call_id, cm.number_id FROM call_media cm
       JOIN calls c ON c.id = cm.call_id
       LEFT JOIN media_nodes n ON n.node = cm.media_node
      WHERE c.status IN ('INITIATED', 'RINGING', 'ACCEPTED') AND cm.media_node <> $1
        AND (n.heartbeat_at IS NULL OR n.heartbeat_at < $2)
      LIMIT 100`,
    [node, staleBefore],
  );
  return rows.map((r) => ({ callId: r.call_id as CallId, numberId: r.number_id as NumberId }));
}

/**
 * Recordings still "recording" whose process stopped beating, of calls ended before `staleBefore` (the owner had that
 * long to finish them itself, a clean shutdown included): nobody will ever finish them.
 */
export async function findLostRecordings(
  db: Db,
  node: string,
  staleBefore: string,
): Promise<{ callId: CallId; numberId: NumberId }[]> {
  const rows = await db.query<{ call_id: string; number_id: string }>(
    `SELECT cm.call_id, cm.number_id FROM call_media cm
       JOIN calls c ON c.id = cm.call_id
       LEFT JOIN media_nodes n ON n.node = cm.media_node
      WHERE cm.recording_status = 'recording' AND cm.media_node <> $1
        AND c.status NOT IN ('INITIATED', 'RINGING', 'ACCEPTED') AND c.ended_at < $3
        AND (n.heartbeat_at IS NULL OR n.heartbeat_at < $2)
      LIMIT 100`,
    // Twice: heartbeat_at is text, ended_at a timestamp on PostgreSQL.
    [node, staleBefore, staleBefore],
  );
  return rows.map((r) => ({ callId: r.call_id as CallId, numberId: r.number_id as NumberId }));
}
