// A call the provider placed for a POST /v1/calls that never stored it rings a user nobody here knows about: the
// request's process died between the provider's answer and the insert, or the request gave up waiting for an
// answer the provider then gave. Its events are parked (they name a call id no call claims); once the request
// cannot be storing it any more, the call is ended at the provider so the phone stops ringing.
import type { Logger } from 'pino';
import type { CallId } from '../ids.ts';
import type { Call } from '../model/call.ts';
import type { NumberRecord } from '../model/number.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import { type Db, isForeignKeyViolation } from '../store/db.ts';
import { getNumberById } from '../store/numbers.ts';
import { hasOutboundAttemptSince, insertOutboundAttempt, takeOutboundAttempt } from '../store/outbound-attempts.ts';
import { forgetParkedEvents, listUnclaimedOutboundCalls, parkedForMs } from '../store/parked-events.ts';
import { putTombstone, takeTombstone } from '../store/tombstones.ts';

/** After the provider's deadline, this long for the insert that follows its answer. */
const STORE_GRACE_MS = 10_000;
/** Unclaimed calls handled per sweep at most. */
const BATCH = 100;
/**
 * How long a call dealt with here is remembered: its later events (Meta's end for our terminate, a terminate after a
 * REJECTED) are parked again under its id, and must not take the attempt of another call placed meanwhile.
 */
const DEALT_WITH_MS = 15 * 60_000;
const NO_END = { startTime: null, endTime: null, duration: null, errorCode: null };

export interface UnclaimedOutboundDeps {
  db: Db;
  providers: ProviderRegistry;
  providerTimeoutMs: number;
  logger: Logger;
}

/**
 * Ends at the provider every call it placed that no request stored in time; answers how many it ended. A call
 * the provider could not be told about keeps its parked events and is tried again next sweep, until they expire.
 */
export async function endUnclaimedOutboundCalls(deps: UnclaimedOutboundDeps, now: Date): Promise<number> {
  // A start request may still be waiting for the provider's answer (and then store the call) this long; the
  // events wait longer (parkedForMs), so they are still there when it is over.
  const waitMs = deps.providerTimeoutMs + STORE_GRACE_MS;
  const parkedFor = parkedForMs(deps.providerTimeoutMs);
  const attemptsSince = new Date(now.getTime() - attemptsKeptMs(deps.providerTimeoutMs)).toISOString();
  const dealtWithUntil = new Date(now.getTime() + DEALT_WITH_MS).toISOString();
  let ended = 0;
  // Its events were parked before this; so was the attempt of the request that placed it, before it asked the
  // provider: a younger attempt is a request still running, which cannot have placed it.
  const parkedBefore = new Date(now.getTime() - waitMs);
  const madeBefore = parkedBefore.toISOString();
  for (const unclaimed of await listUnclaimedOutboundCalls(deps.db, parkedBefore, BATCH, parkedFor)) {
    const number = await getNumberById(deps.db, unclaimed.numberId);
    const log = { numberId: unclaimed.numberId, externalCallId: unclaimed.externalCallId };
    if (number?.provider === 'EVO_GO') {
      // A web number's account also calls from its phone and its other devices: such a call's events name our own
      // number as the creator, like a dial of ours, and must be left alone (providers-evolution-go.md §4).
      deps.logger.debug(log, 'outbound call on a web number that no request stored left alone (placed elsewhere)');
    } else if (!number) {
      // Deleted with its number: nothing to end.
    } else if (!(await putTombstone(deps.db, number.id, unclaimed.externalCallId, NO_END, dealtWithUntil))) {
      // Dealt with already: these are its later events, or another process's sweep is deciding it now. Its attempt
      // was taken. The events are left to expire, not forgotten: a sweep that finds the provider unreachable, or
      // waits for a request, gives the call back and needs them to try again.
      continue;
    } else {
      const attempt = await takeOutboundAttempt(deps.db, number.id, attemptsSince, madeBefore);
      if (attempt === null && (await hasOutboundAttemptSince(deps.db, number.id, madeBefore))) {
        // A request still running (or one whose host's clock runs a little ahead) may be the one: decided at a later
        // sweep, once it has stored its call or given up.
        await takeTombstone(deps.db, number.id, unclaimed.externalCallId, now.toISOString());
        continue;
      }
      if (attempt === null) {
        // No request of ours is unaccounted for: another app placed this call on the number (R6: dropped, logged).
        deps.logger.info(log, 'an outbound call no request here placed is left alone (another app placed it)');
      } else if (!unclaimed.ended) {
        const result = await deps
          .providers(number)
          .endCall(number, unknownCall(number, unclaimed.externalCallId, now), 'terminate');
        if (!result.ok && result.category !== 'ALREADY_ENDED') {
          deps.logger.warn(
            { ...log, category: result.category },
            'could not end at the provider an outbound call no request stored',
          );
          // The attempt, as it was made, still accounts for it at the next sweep's try; unless the number was deleted
          // meanwhile (force=true), its parked events with it: nothing is left to try again.
          await insertOutboundAttempt(deps.db, number.id, attempt).catch((err: unknown) => {
            if (!isForeignKeyViolation(err)) {
              throw err;
            }
          });
          await takeTombstone(deps.db, number.id, unclaimed.externalCallId, now.toISOString());
          continue;
        }
        if (result.ok) {
          ended++;
          deps.logger.warn(
            log,
            'ended at the provider an outbound call no request stored (its request died or gave up)',
          );
        } else {
          // Another process's sweep ended it first, or the call ended before its end event came: nothing was done here.
          deps.logger.info(log, 'an outbound call no request stored had already ended at the provider');
        }
      }
    }
    await forgetParkedEvents(deps.db, unclaimed.numberId, unclaimed.externalCallId);
  }
  return ended;
}

/**
 * How long a request's attempt may account for an unknown call: it was made up to the provider's deadline before
 * the call's events, which wait at most parkedForMs for the sweep.
 */
export function attemptsKeptMs(providerTimeoutMs: number): number {
  return providerTimeoutMs + 2 * parkedForMs(providerTimeoutMs);
}

/** The provider adapters act on a Call; this one carries what an end needs: the number and the provider's id. */
function unknownCall(number: NumberRecord, externalCallId: string, now: Date): Call {
  const at = now.toISOString();
  return {
    id: `call_unknown_${externalCallId}` as CallId,
    externalCallId,
    numberId: number.id,
    tenantId: number.tenantId,
    direction: 'OUTBOUND',
    status: 'INITIATED',
    peerNumber: null,
    peerUserId: null,
    peerLid: null,
    durationSeconds: null,
    startedAt: at,
    connectedAt: null,
    endedAt: null,
    endedBy: null,
    endReason: null,
    bizOpaqueCallbackData: null,
    sdpOffer: null,
    sdpAnswer: null,
    createdAt: at,
    updatedAt: at,
    maxDurationSeconds: null,
    providerData: null,
    eventSeq: 0,
    pendingAction: null,
  };
}
