// The outbox: a call's state change, its events and their webhook deliveries, written in one transaction.
import { newEventId } from '../ids.ts';
import { type Call, type CallEventType, isTerminal } from '../model/call.ts';
import { insertCall, updateCall } from '../store/calls.ts';
import type { Db } from '../store/db.ts';
import { enqueueDeliveries } from '../store/deliveries.ts';
import { type EventRecord, enqueueEvent } from '../store/events.ts';
import type { Transition } from './machine.ts';
import { toPublicCall } from './public-call.ts';

/** The webhook payload of a call event (docs/spec/webhooks.md): flat, the call's own field names. */
export function callEventPayload(
  call: Call,
  event: CallEventType,
  eventId: string,
  sequence: number,
  occurredAt: string,
) {
  return { event, eventId, sequence, occurredAt, ...toPublicCall(call) };
}

/** Set by endedCallsDb (calls/ended-calls.ts): told of each call a transaction ends, to count after the commit. */
export const ON_CALL_ENDED: unique symbol = Symbol('onCallEnded');
export type EndObservedDb = Db & { [ON_CALL_ENDED]?: (call: Call) => void };

/** `isNew`: the transition creates the call (an inbound offer, our own outbound call) rather than changing it. */
export interface PersistOptions {
  isNew: boolean;
}

/**
 * Saves a transition and its events in the caller's transaction, numbering the events
 * after the call's last one so receivers can order them, plus one webhook delivery per subscriber.
 */
export async function persistTransition(
  tx: EndObservedDb,
  t: Transition,
  { isNew }: PersistOptions,
  now: string,
): Promise<Call> {
  const call: Call = { ...t.call, eventSeq: t.call.eventSeq + t.events.length };
  if (isNew) {
    await insertCall(tx, call);
  } else {
    await updateCall(tx, call);
  }
  let sequence = t.call.eventSeq;
  for (const type of t.events) {
    sequence += 1;
    const id = newEventId();
    await enqueueEvent(tx, {
      id,
      tenantId: call.tenantId,
      numberId: call.numberId,
      callId: call.id,
      type,
      sequence,
      payload: callEventPayload(snapshotFor(call, type), type, id, sequence, now),
      occurredAt: now,
      createdAt: now,
    });
    // The fan-out shares the event's transaction: a committed event always has its deliveries.
    await enqueueDeliveries(tx, { id, numberId: call.numberId, type, callId: call.id, sequence, createdAt: now });
    if (type === 'call.ended') {
      tx[ON_CALL_ENDED]?.(call);
    }
  }
  return call;
}

/** An event outside a call's numbered lifecycle (sequence null): its outbox row without the bookkeeping. */
export type SideEvent = Omit<EventRecord, 'sequence' | 'createdAt'>;

/**
 * Saves a side event and one delivery per subscriber, in the caller's transaction. `deliveryOrder` places a call's
 * side event among the call's numbered events for delivery (the worker's per-call order); the event itself and its
 * payload keep no sequence.
 */
export async function persistSideEvent(tx: Db, e: SideEvent, now: string, deliveryOrder: number | null = null) {
  await enqueueEvent(tx, { ...e, sequence: null, createdAt: now });
  await enqueueDeliveries(tx, {
    id: e.id,
    numberId: e.numberId,
    type: e.type,
    callId: e.callId,
    sequence: deliveryOrder,
    createdAt: now,
  });
}

/**
 * A side event about one call, told now: `{event, eventId, occurredAt, callId, numberId}` and the event's own fields.
 */
export async function persistCallSideEvent(
  tx: Db,
  call: Call,
  type: string,
  fields: Record<string, unknown>,
  now: string,
): Promise<void> {
  const id = newEventId();
  const payload = { event: type, eventId: id, occurredAt: now, callId: call.id, numberId: call.numberId, ...fields };
  // Delivered after the call's events before it and before those after it, when they are due together: the next
  // one (call.ended, say) waits for a key pressed before it, and what is told of an ended call waits for call.ended.
  // Sharing a live call's last sequence, it waits for that event too (the claim's rule, store/delivery-claims.ts).
  const deliveryOrder = isTerminal(call.status) ? call.eventSeq + 1 : call.eventSeq;
  await persistSideEvent(
    tx,
    { id, tenantId: call.tenantId, numberId: call.numberId, callId: call.id, type, payload, occurredAt: now },
    now,
    deliveryOrder,
  );
}

/**
 * The call as an event tells it. A connection first heard of in the event that ends the call (machine.ts) is told as
 * it was then: ACCEPTED, with no end yet, as every call.connected is.
 */
function snapshotFor(call: Call, type: CallEventType): Call {
  if (type !== 'call.connected' || call.status === 'ACCEPTED') {
    return call;
  }
  return { ...call, status: 'ACCEPTED', endedAt: null, endedBy: null, endReason: null, durationSeconds: null };
}
