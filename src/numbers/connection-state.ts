// A web number's state from its Evolution instance's CONNECTION webhooks (docs/pilot-compat.md, Number state):
// pure, so the inbound route and the tests share one reading.
import type { EvolutionConnectionUpdate } from '../providers/evolution/webhook.ts';
import { NUMBER_STATES, type NumberState } from './service.ts';

const REJECT_CALL_PROBLEM = 'rejectCall is on: the server declines every call itself and sends no CallOffer';
const LOGGED_OUT_PROBLEM = 'the phone logged this device out: POST /v1/numbers/{id}/connect gives a new QR to scan';

/**
 * The public-config patch for a connection event, computed from the number's current config: paired and online →
 * OPEN; logged out → CLOSED (the device is gone until a new scan); down while paired → CLOSED; down before it was
 * ever paired (a QR waiting to be scanned) → still CONNECTING. `health` keeps what a status check learned
 * (rejectCall) and says what the event told.
 */
export function connectionPatch(
  current: Record<string, unknown>,
  update: EvolutionConnectionUpdate,
  at: string,
): { state: NumberState; health: Record<string, unknown>; pairedAt: string | null } {
  const before = (NUMBER_STATES as readonly unknown[]).includes(current.state)
    ? (current.state as NumberState)
    : 'OPEN';
  const previous = isRecord(current.health) ? current.health : {};
  const loggedIn =
    update.loggedIn ?? (typeof previous.loggedIn === 'boolean' ? previous.loggedIn : before !== 'CONNECTING');
  let state: NumberState = 'CLOSED';
  if (update.connected && loggedIn) {
    state = 'OPEN';
  } else if (!loggedIn && update.loggedIn === null && before !== 'OPEN') {
    state = before; // a drop before any pairing (still CONNECTING), or after a logout (still CLOSED)
  }
  // Logged out, the number stays CLOSED with why until a new scan, whatever drop follows.
  const unlinked = state === 'CLOSED' && !loggedIn ? unlinkedProblem(current) : null;
  const problem =
    update.event === 'LoggedOut'
      ? LOGGED_OUT_PROBLEM
      : (unlinked ?? (previous.rejectCall === true ? REJECT_CALL_PROBLEM : undefined));
  const { problem: _problem, reason: _reason, ...kept } = previous;
  // When the phone linked this device (kept while it stays linked): of two numbers of one phone, the one linked
  // first keeps it (web-onboarding's claimPhone).
  const linked = typeof current.pairedAt === 'string' && previous.loggedIn !== false ? current.pairedAt : null;
  const pairedAt = !loggedIn ? null : (linked ?? (update.connected ? at : null));
  return {
    state,
    pairedAt,
    health: {
      ...kept,
      connected: update.connected,
      loggedIn,
      event: update.event,
      ...(update.reason ? { reason: update.reason } : {}),
      ...(problem ? { problem } : {}),
    },
  };
}

/**
 * GET /v1/numbers/{id}/status's reading of the instance, consistent with connectionPatch: not logged in is a QR
 * waiting to be scanned (CONNECTING) only for a number never linked; one that was linked, or was logged out (a
 * LoggedOut event, a link refused by claimPhone), needs a new QR: CLOSED, with the problem saying so (the one already
 * stored, which says why, else the logout's).
 */
export function statusPatch(
  current: Record<string, unknown>,
  status: { connected: boolean; loggedIn: boolean },
  rejectCall: boolean | null,
): { state: NumberState; health: Record<string, unknown> } {
  const { connected, loggedIn } = status;
  const previous = isRecord(current.health) ? current.health : {};
  const wasLinked =
    typeof current.pairedAt === 'string' || previous.loggedIn === true || unlinkedProblem(current) !== null;
  const state: NumberState = loggedIn ? (connected ? 'OPEN' : 'CLOSED') : wasLinked ? 'CLOSED' : 'CONNECTING';
  const problem =
    !loggedIn && wasLinked
      ? (unlinkedProblem(current) ?? LOGGED_OUT_PROBLEM)
      : rejectCall === true
        ? REJECT_CALL_PROBLEM
        : undefined;
  return {
    state,
    health: {
      connected,
      loggedIn,
      ...(rejectCall !== null ? { rejectCall } : {}),
      ...(problem ? { problem } : {}),
    },
  };
}

/** The stored problem of a number logged out (CLOSED, not logged in): why it needs a new QR. */
function unlinkedProblem(current: Record<string, unknown>): string | null {
  const health = isRecord(current.health) ? current.health : {};
  return current.state === 'CLOSED' &&
    health.loggedIn === false &&
    typeof health.problem === 'string' &&
    health.problem !== REJECT_CALL_PROBLEM
    ? health.problem
    : null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
