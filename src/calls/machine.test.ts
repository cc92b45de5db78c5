import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CallId, NumberId, TenantId } from '../ids.ts';
import type { Call, CallStatus, Direction, EndedBy } from '../model/call.ts';
import type { ProviderCallEvent, ProviderEnd } from '../model/provider-event.ts';
import {
  applyProviderEvent,
  createInboundCall,
  decideTerminate,
  endCall,
  mediaFailed,
  missedAfterPeerEnd,
  rejectByBusiness,
  type TerminateResult,
  terminated,
} from './machine.ts';

const T0 = '2026-07-03T15:00:00.000Z';
const T5 = '2026-07-03T15:00:05.000Z';
const T125 = '2026-07-03T15:02:05.000Z';

function call(status: CallStatus, direction: Direction = 'INBOUND', patch: Partial<Call> = {}): Call {
  return {
    id: 'call_1' as CallId,
    externalCallId: 'wacid.X',
    numberId: 'num_1' as NumberId,
    tenantId: 'tenant_1' as TenantId,
    direction,
    status,
    peerNumber: '5511999999999',
    peerUserId: null,
    peerLid: null,
    durationSeconds: null,
    startedAt: T0,
    connectedAt: status === 'ACCEPTED' ? T5 : null,
    endedAt: null,
    endedBy: null,
    endReason: null,
    bizOpaqueCallbackData: null,
    sdpOffer: null,
    sdpAnswer: null,
    createdAt: T0,
    updatedAt: T0,
    eventSeq: 1,
    pendingAction: null,
    maxDurationSeconds: null,
    providerData: null,
    ...patch,
  };
}

const noEnd: ProviderEnd = { startTime: null, endTime: null, duration: null, errorCode: null };
const answeredEnd: ProviderEnd = { startTime: T5, endTime: T125, duration: 120, errorCode: null };
const end = (e: ProviderEnd): ProviderCallEvent => ({ type: 'end', externalCallId: 'wacid.X', at: T125, end: e });

describe('terminate decision', () => {
  const cases: [CallStatus, Direction, string][] = [
    ['RINGING', 'INBOUND', 'reject'],
    ['INITIATED', 'OUTBOUND', 'terminate'],
    ['RINGING', 'OUTBOUND', 'terminate'],
    ['ACCEPTED', 'INBOUND', 'terminate'],
    ['ACCEPTED', 'OUTBOUND', 'terminate'],
  ];
  for (const [status, direction, action] of cases) {
    test(`an active ${direction} ${status} call is ended with Meta "${action}"`, () => {
      assert.deepEqual(decideTerminate(call(status, direction)), { kind: 'provider-action', action });
    });
  }
  for (const status of ['COMPLETED', 'FAILED', 'REJECTED', 'MISSED'] as const) {
    test(`a ${status} call needs no provider action`, () => {
      assert.deepEqual(decideTerminate(call(status)), { kind: 'already-ended' });
    });
  }
});

describe('ending by the business', () => {
  test('an answered call completes with its duration and one call.ended', () => {
    const t = endCall(call('ACCEPTED'), T125, 'BUSINESS');
    assert.equal(t.call.status, 'COMPLETED');
    assert.equal(t.call.durationSeconds, 120);
    assert.equal(t.call.endedBy, 'BUSINESS');
    assert.deepEqual(t.events, ['call.ended']);
  });
  test('an unanswered call completes without a duration', () => {
    const t = endCall(call('RINGING'), T125, 'BUSINESS');
    assert.equal(t.call.durationSeconds, null);
    assert.deepEqual(t.events, ['call.ended']);
  });
  test('a terminal call is sticky: nothing changes, no event', () => {
    const ended = call('MISSED', 'INBOUND', { endedAt: T5, endedBy: 'PEER' });
    const t = endCall(ended, T125, 'BUSINESS');
    assert.equal(t.call, ended);
    assert.deepEqual(t.events, []);
  });
  test('a reject ends a ringing call REJECTED by BUSINESS; a call answered meanwhile is not rejected', () => {
    const t = rejectByBusiness(call('RINGING'), T5);
    assert.deepEqual([t.call.status, t.call.endedBy, t.events], ['REJECTED', 'BUSINESS', ['call.ended']]);
    const answered = call('ACCEPTED');
    assert.equal(rejectByBusiness(answered, T125).call, answered);
    assert.deepEqual(rejectByBusiness(answered, T125).events, []);
  });
  test('a reject the provider found no call for: a ringing call is MISSED by the PEER, an answered one stays up', () => {
    const t = missedAfterPeerEnd(call('RINGING'), T5);
    assert.deepEqual([t.call.status, t.call.endedBy, t.events], ['MISSED', 'PEER', ['call.missed', 'call.ended']]);
    const answered = call('ACCEPTED');
    assert.equal(missedAfterPeerEnd(answered, T125).call, answered);
    assert.deepEqual(missedAfterPeerEnd(answered, T125).events, []);
  });
  const results: [string, TerminateResult, EndedBy][] = [
    ['the provider ended it', { kind: 'ended' }, 'BUSINESS'],
    [
      'the provider had no call, after an unanswered hang-up of ours',
      { kind: 'already-ended', oursMayHaveActed: true },
      'BUSINESS',
    ],
    [
      'the provider had no call and nothing of ours may have ended it',
      { kind: 'already-ended', oursMayHaveActed: false },
      'PEER',
    ],
  ];
  for (const [when, result, endedBy] of results) {
    test(`a terminate where ${when} ends the call by ${endedBy}`, () => {
      const t = terminated(call('ACCEPTED'), T125, result);
      assert.equal(t.call.status, 'COMPLETED');
      assert.equal(t.call.endedBy, endedBy);
      assert.deepEqual(t.events, ['call.ended']);
    });
  }
});

describe('provider events', () => {
  test('an unanswered inbound call that ends is MISSED: call.missed then call.ended', () => {
    const t = applyProviderEvent(call('RINGING'), end(noEnd), T125, null);
    assert.equal(t.call.status, 'MISSED');
    assert.equal(t.call.endedBy, 'PEER');
    assert.deepEqual(t.events, ['call.missed', 'call.ended']);
  });
  test("an answered call ending takes Meta's times and duration as authoritative", () => {
    const t = applyProviderEvent(
      call('ACCEPTED', 'INBOUND', { connectedAt: '2026-07-03T15:00:06.000Z' }),
      end(answeredEnd),
      T125,
      null,
    );
    assert.equal(t.call.status, 'COMPLETED');
    assert.equal(t.call.connectedAt, T5);
    assert.equal(t.call.durationSeconds, 120);
    assert.deepEqual(t.events, ['call.ended']);
  });
  test('an end saying the call was answered, of a call ours still had ringing: call.connected comes before call.ended', () => {
    // An accept whose answer had not come back when the caller hung up, or one that timed out and connected.
    for (const inFlight of ['accept', null] as const) {
      const t = applyProviderEvent(call('RINGING'), end(answeredEnd), T125, inFlight);
      assert.equal(t.call.status, 'COMPLETED');
      assert.equal(t.call.connectedAt, T5);
      assert.equal(t.call.durationSeconds, 120);
      assert.deepEqual(t.events, ['call.connected', 'call.ended'], String(inFlight));
    }
    // Our own hang-up of it (after such an accept) too.
    const ours = applyProviderEvent(call('RINGING'), end(answeredEnd), T125, 'terminate');
    assert.deepEqual(ours.events, ['call.connected', 'call.ended']);
  });
  test('an end with provider errors is FAILED by SYSTEM with the code as endReason', () => {
    const t = applyProviderEvent(call('RINGING', 'OUTBOUND'), end({ ...noEnd, errorCode: '138019' }), T125, null);
    assert.equal(t.call.status, 'FAILED');
    assert.equal(t.call.endedBy, 'SYSTEM');
    assert.equal(t.call.endReason, '138019');
  });
  test('a ringing call declined: REJECTED, no call.missed; who declined follows the call when the provider does not say', () => {
    const declined = end({ ...noEnd, declined: true, reason: 'rejected' });
    const theirs = applyProviderEvent(call('RINGING', 'INBOUND'), declined, T125, null);
    assert.equal(theirs.call.status, 'REJECTED');
    assert.equal(theirs.call.endedBy, 'BUSINESS', 'we declined their call');
    assert.equal(theirs.call.endReason, 'rejected');
    assert.deepEqual(theirs.events, ['call.ended']);
    const ours = applyProviderEvent(call('RINGING', 'OUTBOUND'), declined, T125, null);
    assert.equal(ours.call.status, 'REJECTED');
    assert.equal(ours.call.endedBy, 'PEER', 'they declined ours');
    const said = applyProviderEvent(
      call('RINGING', 'INBOUND'),
      end({ ...noEnd, declined: true, endedBy: 'PEER' }),
      T125,
      null,
    );
    assert.equal(said.call.endedBy, 'PEER', "the provider's word wins");
  });
  test("an end landing while our terminate is in flight is ours: COMPLETED by BUSINESS with Meta's times", () => {
    const t = applyProviderEvent(call('ACCEPTED'), end(answeredEnd), T125, 'terminate');
    assert.equal(t.call.status, 'COMPLETED');
    assert.equal(t.call.endedBy, 'BUSINESS');
    assert.equal(t.call.durationSeconds, 120);
  });
  test('an end landing while our terminate of a ringing call is in flight is COMPLETED, not MISSED', () => {
    const t = applyProviderEvent(call('RINGING'), end(noEnd), T125, 'terminate');
    assert.equal(t.call.status, 'COMPLETED');
    assert.deepEqual(t.events, ['call.ended']);
  });
  test("an end landing while the sweeper ends an overlong call is by SYSTEM, with Meta's times", () => {
    const t = applyProviderEvent(call('ACCEPTED'), end(answeredEnd), T125, 'system-end');
    assert.equal(t.call.status, 'COMPLETED');
    assert.equal(t.call.endedBy, 'SYSTEM');
    assert.equal(t.call.durationSeconds, 120);
    assert.deepEqual(t.events, ['call.ended']);
  });
  test('an end landing while the sweeper ends a call that rang too long is the ring timeout: MISSED by SYSTEM', () => {
    const t = applyProviderEvent(call('RINGING'), end(noEnd), T125, 'system-end');
    assert.equal(t.call.status, 'MISSED');
    assert.equal(t.call.endedBy, 'SYSTEM');
    assert.equal(t.call.endReason, 'ring_timeout');
  });
  test("an end landing while server media hangs up its failed call keeps the media's reason: FAILED by SYSTEM", () => {
    for (const [kind, reason] of [
      ['media-timeout', 'media_timeout'],
      ['media-lost', 'media_lost'],
    ] as const) {
      const t = applyProviderEvent(call('ACCEPTED'), end(answeredEnd), T125, kind);
      assert.deepEqual([t.call.status, t.call.endedBy, t.call.endReason], ['FAILED', 'SYSTEM', reason]);
      assert.equal(t.call.durationSeconds, 120);
      assert.deepEqual(t.events, ['call.ended']);
    }
  });
  test('a late end for an ended call only fills in times, never a second call.ended', () => {
    const ours = endCall(call('ACCEPTED'), '2026-07-03T15:02:06.000Z', 'BUSINESS').call;
    const t = applyProviderEvent(ours, end(answeredEnd), T125, null);
    assert.equal(t.call.status, 'COMPLETED');
    assert.equal(t.call.endedBy, 'BUSINESS');
    assert.equal(t.call.durationSeconds, 120);
    assert.equal(t.call.endedAt, T125);
    assert.deepEqual(t.events, []);
  });
  test('a duplicate end changes nothing', () => {
    const first = applyProviderEvent(call('RINGING'), end(noEnd), T125, null).call;
    const again = applyProviderEvent(first, end(noEnd), T125, null);
    assert.equal(again.call, first);
    assert.deepEqual(again.events, []);
  });
  test('a duplicate offer changes nothing', () => {
    const c = call('RINGING');
    const t = applyProviderEvent(
      c,
      {
        type: 'offer',
        externalCallId: 'wacid.X',
        peerNumber: '1',
        at: T0,
        sdpOffer: null,
        bizOpaqueCallbackData: null,
      },
      T5,
      null,
    );
    assert.equal(t.call, c);
  });
  test('outbound progress never goes down: RINGING after ACCEPTED is ignored', () => {
    const accepted = applyProviderEvent(
      call('INITIATED', 'OUTBOUND'),
      { type: 'progress', externalCallId: 'wacid.X', at: T5, status: 'ACCEPTED' },
      T5,
      null,
    );
    assert.deepEqual(accepted.events, ['call.connected']);
    const late = applyProviderEvent(
      accepted.call,
      { type: 'progress', externalCallId: 'wacid.X', at: T5, status: 'RINGING' },
      T5,
      null,
    );
    assert.equal(late.call.status, 'ACCEPTED');
    assert.deepEqual(late.events, []);
  });
  test('REJECTED then terminate: the call stays REJECTED with one call.ended', () => {
    const rejected = applyProviderEvent(
      call('RINGING', 'OUTBOUND'),
      { type: 'progress', externalCallId: 'wacid.X', at: T5, status: 'REJECTED' },
      T5,
      null,
    );
    assert.equal(rejected.call.status, 'REJECTED');
    const then = applyProviderEvent(rejected.call, end(noEnd), T125, null);
    assert.equal(then.call.status, 'REJECTED');
    assert.deepEqual(then.events, []);
  });
});

describe('new inbound calls', () => {
  const base = {
    id: 'call_1' as CallId,
    externalCallId: 'wacid.X',
    numberId: 'num_1' as NumberId,
    tenantId: 'tenant_1' as TenantId,
    direction: 'INBOUND' as const,
    peerNumber: '1',
    peerUserId: null,
    peerLid: null,
    startedAt: T0,
    bizOpaqueCallbackData: null,
    sdpOffer: 'v=0',
    sdpAnswer: null,
    createdAt: T0,
    updatedAt: T0,
    eventSeq: 0,
    pendingAction: null,
    maxDurationSeconds: null,
    providerData: null,
  };
  test('a fresh offer rings', () => {
    const t = createInboundCall(base, { tombstone: null, stale: false, now: T0 });
    assert.equal(t.call.status, 'RINGING');
    assert.deepEqual(t.events, ['call.ringing']);
  });
  test('an offer whose end came first is created MISSED and never rings', () => {
    const t = createInboundCall(base, { tombstone: noEnd, stale: false, now: T5 });
    assert.equal(t.call.status, 'MISSED');
    assert.deepEqual(t.events, ['call.missed', 'call.ended']);
  });
  test('an answered end that came before its offer has its times clamped to the call’s life too', () => {
    const t = createInboundCall(base, {
      tombstone: { startTime: '1970-01-01T00:00:01.000Z', endTime: T125, duration: null, errorCode: null },
      stale: false,
      now: T125,
    });
    assert.equal(t.call.status, 'COMPLETED');
    assert.equal(t.call.connectedAt, T0);
    assert.equal(t.call.durationSeconds, 125);
  });
  test('a stale offer is MISSED by SYSTEM', () => {
    const t = createInboundCall(base, { tombstone: null, stale: true, now: T125 });
    assert.equal(t.call.status, 'MISSED');
    assert.equal(t.call.endedBy, 'SYSTEM');
  });
});

test('media failure ends a live call FAILED by SYSTEM with its reason, once; an ended call stays as it was', () => {
  const now = '2026-07-03T15:01:00.000Z';
  for (const status of ['RINGING', 'ACCEPTED'] as const) {
    const c = call(status, 'INBOUND', { connectedAt: status === 'ACCEPTED' ? '2026-07-03T15:00:00.000Z' : null });
    const t = mediaFailed(c, now, 'media_timeout');
    assert.equal(t.call.status, 'FAILED');
    assert.equal(t.call.endedBy, 'SYSTEM');
    assert.equal(t.call.endReason, 'media_timeout');
    assert.deepEqual(t.events, ['call.ended']);
    assert.equal(t.call.durationSeconds, status === 'ACCEPTED' ? 60 : null);
    assert.deepEqual(mediaFailed(t.call, now, 'media_timeout').events, []);
  }
});

describe('provider times outside the call’s life', () => {
  test('a start before the call existed and an end past now are clamped to them, give or take a day', () => {
    const t = applyProviderEvent(
      call('ACCEPTED'),
      end({
        startTime: '1970-01-01T00:00:01.000Z',
        endTime: '5000-01-01T00:00:00.000Z',
        duration: null,
        errorCode: null,
      }),
      T125,
      null,
    );
    assert.equal(t.call.connectedAt, T0);
    assert.equal(t.call.endedAt, T125);
    assert.equal(t.call.durationSeconds, 125);
  });

  test('times within a day of the call’s life are the provider’s: a clock hours off keeps its durations', () => {
    // A server sending its local time (UTC−10) as UTC: both times 10 h early, the duration between them right.
    const early = '2026-07-03T05:00:05.000Z';
    const late = '2026-07-03T05:02:05.000Z';
    const t = applyProviderEvent(
      call('ACCEPTED'),
      end({ startTime: early, endTime: late, duration: null, errorCode: null }),
      T125,
      null,
    );
    assert.equal(t.call.connectedAt, early);
    assert.equal(t.call.endedAt, late);
    assert.equal(t.call.durationSeconds, 120);
    const connected = applyProviderEvent(
      call('RINGING'),
      { type: 'progress', externalCallId: 'wacid.X', status: 'ACCEPTED', at: '2999-01-01T00:00:00.000Z' },
      T125,
      null,
    );
    assert.equal(connected.call.connectedAt, T125, 'a connect time past now + 1 day is now');
  });
});
