// The sandbox_users table: which process holds each simulated user of a sandbox number (docs/sandbox.md).
import type { NumberId } from '../ids.ts';
import type { CallStatus } from '../model/call.ts';
import { beatMediaNode } from './call-media.ts';
import type { Db } from './db.ts';

/**
 * Records that `mediaNode` holds the simulated user of a call. With `beat`, the node's heartbeat goes in the same
 * transaction, as for server media: a row naming a node without a fresh heartbeat reads as lost to the others.
 */
export async function insertSandboxUser(
  db: Db,
  u: { numberId: NumberId; externalCallId: string; mediaNode: string; now: string; beat: boolean },
): Promise<void> {
  const write = async (tx: Db) => {
    if (u.beat) {
      await beatMediaNode(tx, u.mediaNode, u.now);
    }
    await tx.execute(
      `INSERT INTO sandbox_users (number_id, external_call_id, media_node, created_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (number_id, external_call_id) DO UPDATE SET media_node = excluded.media_node`,
      [u.numberId, u.externalCallId, u.mediaNode, u.now],
    );
  };
  await (u.beat ? db.transaction(write) : write(db));
}

/** The simulated user is over (its call ended, or was never made): nobody has to end its call any more. */
export async function deleteSandboxUser(db: Db, numberId: NumberId, externalCallId: string): Promise<void> {
  await db.execute('DELETE FROM sandbox_users WHERE number_id = $1 AND external_call_id = $2', [
    numberId,
    externalCallId,
  ]);
}

export interface LostSandboxUser {
  numberId: NumberId;
  externalCallId: string;
  /** The call's status, or null when no call was stored for the user (its process died before the offer). */
  status: CallStatus | null;
}

/**
 * Simulated users held by another process that has stopped beating since `staleBefore`. Those of a live call with
 * server media are left out while it lives: the media's own look ends it (media_lost), once for both.
 */
export async function findLostSandboxUsers(db: Db, node: string, staleBefore: string): Promise<LostSandboxUser[]> {
  const rows = await db.query<{ number_id: string; external_call_id: string; status: string | null }>(
    `SELECT su.number_id, su.external_call_id, c.status FROM sandbox_users su
       LEFT JOIN calls c ON c.number_id = su.number_id AND c.external_call_id = su.external_call_id
       LEFT JOIN media_nodes n ON n.node = su.media_node
      WHERE su.media_node <> $1 AND (n.heartbeat_at IS NULL OR n.heartbeat_at < $2)
        AND (c.id IS NULL OR c.status NOT IN ('INITIATED', 'RINGING', 'ACCEPTED')
          OR NOT EXISTS (SELECT 1 FROM call_media cm WHERE cm.call_id = c.id))
      LIMIT 100`,
    [node, staleBefore],
  );
  return rows.map((r) => ({
    numberId: r.number_id as NumberId,
    externalCallId: r.external_call_id,
    status: r.status as CallStatus | null,
  }));
}
