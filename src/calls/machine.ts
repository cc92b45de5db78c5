// The call state machine: pure functions from (call, event, time) to the next call and the
// events to record. No I/O; terminal states are sticky; ranks never go down.
import type { BusinessActionKind, Call, CallEventType, CallStatus, EndedBy } from '../model/call.ts';
import { isTerminal } from '../model/call.ts';
import type { ProviderCallEvent, ProviderEnd } from '../model/provider-event.ts';

export interface Transition {
  call: Call;
  events: CallEventType[];
}

const RANK: Record<CallStatus, number> = {
  INITIATED: 0,
  RINGING: 1,
  ACCEPTED: 2,
  COMPLETED: 3,
  FAILED: 3,
  REJECTED: 3,
  MISSED: 3,
};

export function durationBetween(from: string | null, to: string | null): number | null {
  if (!from || !to) {
    return null;
  }
  return Math.max(0, Math.floor((Date.parse(to) - Date.parse(from)) / 1000));
}

function unchanged(call: Call): Transition {
  return { call, events: [] };
}

function touch(call: Call, now: string, patch: Partial<Call>): Call {
  return { ...call, ...patch, updatedAt: now };
}

/** Which provider action ends a call, or that there is nothing to end (docs/spec/calls-api.md §4.4–4.5). */
export type TerminateDecision = { kind: 'already-ended' } | { kind: 'provider-action'; action: 'reject' | 'terminate' };

export function decideTerminate(call: Call): TerminateDecision {
  switch (call.status) {
    case 'COMPLETED':
    case 'FAILED':
    case 'REJECTED':
    case 'MISSED':
      return { kind: 'already-ended' };
    case 'INITIATED':
    case 'RINGING':
      return { kind: 'provider-action', action: call.direction === 'INBOUND' ? 'reject' : 'terminate' };
    case 'ACCEPTED':
      return { kind: 'provider-action', action: 'terminate' };
  }
}

/** accept / pre-accept / reject need an inbound call that still rings. */
export function canAnswerOrReject(call: Call): boolean {
  return call.direction === 'INBOUND' && call.status === 'RINGING';
}

/**
 * What the provider answered to our terminate: it ended the call, or it had no call to end any more
 * (`oursMayHaveActed`: an earlier hang-up of ours went unanswered and may be what ended it).
 */
export type TerminateResult = { kind: 'ended' } | { kind: 'already-ended'; oursMayHaveActed: boolean };

/** The business ended the call through our API, unless the provider says the call was already over (PEER). */
export function terminated(call: Call, now: string, result: TerminateResult): Transition {
  const ours = result.kind === 'ended' || result.oursMayHaveActed;
  return endCall(call, now, ours ? 'BUSINESS' : 'PEER');
}

/** An answered or ringing call ends COMPLETED, by whoever the caller names (the sweeper's maxDuration: SYSTEM). */
export function endCall(call: Call, now: string, endedBy: EndedBy, end?: ProviderEnd): Transition {
  if (isTerminal(call.status)) {
    return unchanged(call);
  }
  const connectedAt = end?.startTime ?? call.connectedAt;
  const endedAt = end?.endTime ?? now;
  return {
    call: touch(call, now, {
      status: 'COMPLETED',
      endedAt,
      endedBy,
      connectedAt,
      pendingAction: null,
      durationSeconds: connectedAt ? (end?.duration ?? durationBetween(connectedAt, endedAt)) : null,
    }),
    events: ['call.ended'],
  };
}

/** Only a call that still rings is rejected: one answered meanwhile (on another device of a web number) is not. */
export function rejectByBusiness(call: Call, now: string): Transition {
  if (call.status !== 'RINGING' && call.status !== 'INITIATED') {
    return unchanged(call);
  }
  return {
    call: touch(call, now, { status: 'REJECTED', endedAt: now, endedBy: 'BUSINESS', pendingAction: null }),
    events: ['call.ended'],
  };
}

/**
 * The provider says a reject reached a call it no longer has: the peer ended it unanswered. Not one answered
 * meanwhile (on another device of a web number, whose server then no longer knows it as ringing): it is up.
 */
export function missedAfterPeerEnd(call: Call, now: string): Transition {
  if (call.status !== 'RINGING' && call.status !== 'INITIATED') {
    return unchanged(call);
  }
  return {
    call: touch(call, now, { status: 'MISSED', endedAt: now, endedBy: 'PEER', pendingAction: null }),
    events: ['call.missed', 'call.ended'],
  };
}

/** No provider news within the ring timeout: inbound → MISSED, outbound → FAILED, both by SYSTEM. */
export function ringTimedOut(call: Call, now: string): Transition {
  if (call.status !== 'INITIATED' && call.status !== 'RINGING') {
    return unchanged(call);
  }
  const ended = { endedAt: now, endedBy: 'SYSTEM' as const, endReason: 'ring_timeout', pendingAction: null };
  return call.direction === 'INBOUND'
    ? { call: touch(call, now, { ...ended, status: 'MISSED' }), events: ['call.missed', 'call.ended'] }
    : { call: touch(call, now, { ...ended, status: 'FAILED' }), events: ['call.ended'] };
}

/** Server media failed (ICE/DTLS, or no audio from the peer): FAILED by SYSTEM with the reason, from any live state. */
export function mediaFailed(call: Call, now: string, reason: 'media_timeout' | 'media_lost'): Transition {
  if (isTerminal(call.status)) {
    return unchanged(call);
  }
  return {
    call: touch(call, now, {
      status: 'FAILED',
      endedAt: now,
      endedBy: 'SYSTEM',
      endReason: reason,
      pendingAction: null,
      durationSeconds: call.connectedAt ? durationBetween(call.connectedAt, now) : null,
    }),
    events: ['call.ended'],
  };
}

export function acceptByBusiness(call: Call, now: string, sdpAnswer: string | null): Transition {
  if (call.status !== 'RINGING') {
    return unchanged(call);
  }
  return {
    call: touch(call, now, { status: 'ACCEPTED', connectedAt: now, sdpAnswer, pendingAction: null }),
    events: ['call.connected'],
  };
}

/** A new inbound call from an offer; created terminal when its end already arrived or it is stale. */
export function createInboundCall(
  base: Omit<Call, 'status' | 'durationSeconds' | 'connectedAt' | 'endedAt' | 'endedBy' | 'endReason'>,
  opts: { tombstone: ProviderEnd | null; stale: boolean; now: string },
): Transition {
  const fresh: Call = {
    ...base,
    status: 'RINGING',
    durationSeconds: null,
    connectedAt: null,
    endedAt: null,
    endedBy: null,
    endReason: null,
  };
  if (opts.tombstone) {
    // An end that beat its offer is a provider's time as much as a late one: it gets the same clamp.
    return endFromProvider(fresh, endWithinCallLife(fresh, opts.tombstone, opts.now), opts.now, null);
  }
  if (opts.stale) {
    return {
      call: { ...fresh, status: 'MISSED', endedAt: opts.now, endedBy: 'SYSTEM' },
      events: ['call.missed', 'call.ended'],
    };
  }
  return { call: fresh, events: ['call.ringing'] };
}

/**
 * Apply a provider event to a known call.
 * `inFlight` is our own business action currently at the provider, which an end event is attributed to.
 */
export function applyProviderEvent(
  call: Call,
  given: ProviderCallEvent,
  now: string,
  inFlight: BusinessActionKind | null,
): Transition {
  const event = withinCallLife(call, given, now);
  switch (event.type) {
    case 'offer':
      return unchanged(call); // duplicate or late retry
    case 'answer-sdp': {
      const patch: Partial<Call> = {};
      if (call.sdpAnswer === null && event.sdp) {
        patch.sdpAnswer = event.sdp;
      }
      if (call.status === 'INITIATED') {
        return { call: touch(call, now, { ...patch, status: 'RINGING' }), events: ['call.ringing'] };
      }
      return Object.keys(patch).length ? { call: touch(call, now, patch), events: [] } : unchanged(call);
    }
    case 'progress':
      return applyProgress(call, event.status, event.at, now, event.reason ?? null);
    case 'end':
      return endFromProvider(call, event.end, now, inFlight);
  }
}

/**
 * How far a provider's clock may be from ours before its times are no longer believed: a day, so that a server
 * whose clock is off by hours (local time sent as UTC, a time zone wrong by up to 14 h) keeps its own durations,
 * which come from one clock and are right.
 */
const CLOCK_SKEW_MS = 24 * 3_600_000;

/**
 * A provider's times are believed within the call's life: not before we stored the call, not after now, give or
 * take CLOCK_SKEW_MS. Past those they are clamped to it: a start in 1970 or an end in the year 5000 made durations
 * of decades (and, past PostgreSQL's INTEGER, a webhook that failed on every retry).
 */
function withinCallLife(call: Call, event: ProviderCallEvent, now: string): ProviderCallEvent {
  if (event.type === 'progress') {
    return { ...event, at: clampToCallLife(call, event.at, now) };
  }
  if (event.type === 'end') {
    return { ...event, end: endWithinCallLife(call, event.end, now) };
  }
  return event;
}

function endWithinCallLife(call: Call, end: ProviderEnd, now: string): ProviderEnd {
  const clamp = (at: string | null) => (at === null ? null : clampToCallLife(call, at, now));
  return { ...end, startTime: clamp(end.startTime), endTime: clamp(end.endTime) };
}

function clampToCallLife(call: Call, at: string, now: string): string {
  const t = Date.parse(at);
  return t < Date.parse(call.createdAt) - CLOCK_SKEW_MS
    ? call.createdAt
    : t > Date.parse(now) + CLOCK_SKEW_MS
      ? now
      : at;
}

function applyProgress(
  call: Call,
  status: 'RINGING' | 'ACCEPTED' | 'REJECTED',
  at: string,
  now: string,
  reason: string | null,
): Transition {
  if (isTerminal(call.status) || (RANK[status] <= RANK[call.status] && status !== 'REJECTED')) {
    return unchanged(call);
  }
  switch (status) {
    case 'RINGING':
      return { call: touch(call, now, { status: 'RINGING' }), events: ['call.ringing'] };
    case 'ACCEPTED':
      return { call: touch(call, now, { status: 'ACCEPTED', connectedAt: at }), events: ['call.connected'] };
    case 'REJECTED':
      return {
        call: touch(call, now, { status: 'REJECTED', endedAt: at, endedBy: 'PEER', endReason: reason }),
        events: ['call.ended'],
      };
  }
}

function endFromProvider(call: Call, end: ProviderEnd, now: string, inFlight: BusinessActionKind | null): Transition {
  if (isTerminal(call.status)) {
    // A late end only fills in the provider's authoritative times of an answered call; never a second call.ended.
    const answeredStatus = call.status === 'COMPLETED' || call.status === 'FAILED';
    if (!end.startTime || !answeredStatus) {
      return unchanged(call);
    }
    const endedAt = end.endTime ?? call.endedAt;
    const durationSeconds = end.duration ?? durationBetween(end.startTime, endedAt);
    return { call: touch(call, now, { connectedAt: end.startTime, endedAt, durationSeconds }), events: [] };
  }
  const answered = end.startTime !== null || call.status === 'ACCEPTED';
  const connectedAt = answered ? (end.startTime ?? call.connectedAt) : null;
  const endedAt = end.endTime ?? now;
  const durationSeconds = answered ? (end.duration ?? durationBetween(connectedAt, endedAt)) : null;
  const closed = { connectedAt, endedAt, durationSeconds, pendingAction: null };
  // Answered at the provider though ours never heard of it (an accept whose answer was lost, say): the connection is
  // told before the end, so a consumer never sees a call end with a duration it was not told began.
  const connectedUnseen = answered && call.status !== 'ACCEPTED';
  const finish = (patch: Partial<Call>, events: CallEventType[]): Transition => ({
    call: touch(call, now, { ...closed, ...patch }),
    events: connectedUnseen && events.includes('call.ended') ? ['call.connected', ...events] : events,
  });

  // Our own action at the provider owns the end (docs/spec/calls-api.md §4.6, docs/spec/providers-meta.md R7).
  if (inFlight === 'terminate') {
    return finish({ status: 'COMPLETED', endedBy: 'BUSINESS' }, ['call.ended']);
  }
  if (inFlight === 'reject' && !answered) {
    return finish({ status: 'REJECTED', endedBy: 'BUSINESS' }, ['call.ended']);
  }
  // The sweeper's own end (maxDuration, or a ring timeout it was telling the provider about) is by SYSTEM.
  if (inFlight === 'system-end') {
    return answered ? finish({ status: 'COMPLETED', endedBy: 'SYSTEM' }, ['call.ended']) : ringTimedOut(call, now);
  }
  // Server media's own end: the provider's end event answers its hang-up, the reason stays the media's.
  if (inFlight === 'media-timeout' || inFlight === 'media-lost') {
    const endReason = inFlight === 'media-lost' ? 'media_lost' : 'media_timeout';
    return finish({ status: 'FAILED', endedBy: 'SYSTEM', endReason }, ['call.ended']);
  }

  // A decline whose author the provider left open: the peer declined our call, or the business declined theirs.
  const declinedBy: EndedBy = call.direction === 'OUTBOUND' ? 'PEER' : 'BUSINESS';
  const endedBy: EndedBy = end.endedBy ?? (end.declined ? declinedBy : end.errorCode ? 'SYSTEM' : 'PEER');
  const endReason = end.reason !== undefined ? end.reason : end.errorCode;
  if (answered) {
    return finish({ status: end.errorCode ? 'FAILED' : 'COMPLETED', endedBy, endReason }, ['call.ended']);
  }
  if (end.declined) {
    return finish({ status: 'REJECTED', endedBy, endReason }, ['call.ended']);
  }
  if (call.direction === 'INBOUND') {
    return finish({ status: 'MISSED', endedBy, endReason }, ['call.missed', 'call.ended']);
  }
  return finish({ status: 'FAILED', endedBy, endReason }, ['call.ended']);
}
