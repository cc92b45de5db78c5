// The secret_keys table: fingerprints of the SECRET_KEYs processes have started with.
import { createHmac } from 'node:crypto';
import type { Db } from './db.ts';

/**
 * Names a key without revealing it: an HMAC keyed by the key itself over a fixed label, cut to 128 bits. It lets
 * no one test a guess faster than a sealed value in the same store already does.
 */
export function secretKeyFingerprint(secretKey: string): string {
  return createHmac('sha256', secretKey).update('callgate:secret-key-fingerprint').digest('base64url').slice(0, 22);
}

/** A process runs with this key (noted at each start, after the key was checked against the store). */
export async function noteSecretKeyInUse(db: Db, secretKey: string, now: string): Promise<void> {
  await db.execute(
    `INSERT INTO secret_keys (fingerprint, first_seen_at, last_seen_at) VALUES ($1, $2, $2)
     ON CONFLICT (fingerprint) DO UPDATE SET last_seen_at = excluded.last_seen_at`,
    [secretKeyFingerprint(secretKey), now],
  );
}

/** Whether any process has started with this key. */
export async function isSecretKeyInUse(db: Db, secretKey: string): Promise<boolean> {
  const rows = await db.query<{ n: number }>('SELECT 1 AS n FROM secret_keys WHERE fingerprint = $1', [
    secretKeyFingerprint(secretKey),
  ]);
  return rows.length > 0;
}
