// The secrets a webhook was rotated away from within the last 24 h, each signing beside the current one until its own
// overlap ends: rotating twice in a day must not cut off a receiver still on the first secret. Kept in the
// webhook's sealed `previous_secret` as a JSON list; rows rotated before the list existed hold one bare secret,
// whose end is the row's `previous_secret_expires_at`.

export interface PreviousSecret {
  secret: string;
  /** ISO time its overlap ends. */
  expiresAt: string;
}

/** At most this many old secrets sign at once: each adds a signature to every delivery's header. */
export const MAX_PREVIOUS_SECRETS = 10;

/** What the sealed column holds, opened: a JSON list, or (older rows) one secret ending at `rowExpiresAt`. */
export function parsePreviousSecrets(opened: string | null, rowExpiresAt: string | null): PreviousSecret[] {
  if (opened === null) {
    return [];
  }
  if (!opened.startsWith('[')) {
    return rowExpiresAt ? [{ secret: opened, expiresAt: rowExpiresAt }] : [];
  }
  let list: unknown;
  try {
    list = JSON.parse(opened);
  } catch {
    // JSON.parse's message quotes the text around the fault, secrets included: it must not reach a log line.
    throw new Error('the previous secrets are not a JSON list');
  }
  return Array.isArray(list) ? list.filter(isPreviousSecret) : [];
}

/** A `whsec_` secret with a body to sign with (signPayload throws on an empty one), ending at a readable time. */
function isPreviousSecret(p: unknown): p is PreviousSecret {
  if (typeof p !== 'object' || p === null) {
    return false;
  }
  const { secret, expiresAt } = p as Record<string, unknown>;
  return (
    typeof secret === 'string' &&
    SECRET_SHAPE.test(secret) &&
    typeof expiresAt === 'string' &&
    Number.isFinite(Date.parse(expiresAt))
  );
}

const SECRET_SHAPE = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** Those still signing at `nowMs`. */
export function liveSecrets(previous: PreviousSecret[], nowMs: number): string[] {
  return previous.filter((p) => Date.parse(p.expiresAt) > nowMs).map((p) => p.secret);
}

/**
 * After a rotation: the secret just replaced joins those still live, ending at `expiresAt`; the oldest go first
 * past MAX_PREVIOUS_SECRETS. Returns the list and the latest end, for the row's `previous_secret_expires_at`.
 */
export function afterRotation(
  previous: PreviousSecret[],
  replaced: string,
  expiresAt: string,
  nowMs: number,
): { list: PreviousSecret[]; latestExpiresAt: string } {
  const live = previous.filter((p) => Date.parse(p.expiresAt) > nowMs);
  const list = [...live, { secret: replaced, expiresAt }].slice(-MAX_PREVIOUS_SECRETS);
  // Not always the one just added: a clock stepped back, or two rotations whose times were read before the row
  // lock in the other order. The row's end gates them all in the worker, so it must not cut an earlier one short.
  const latest = Math.max(...list.map((p) => Date.parse(p.expiresAt)));
  return { list, latestExpiresAt: new Date(latest).toISOString() };
}
