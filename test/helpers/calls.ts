// Puts calls into a wanted state the way production does: through signed Meta webhooks and our API.
import type { Call, CallStatus } from '../../src/model/call.ts';
import { findCallForNumber } from '../../src/store/calls.ts';
import type { EventRecord } from '../../src/store/events.ts';
import { CANNED_ANSWER_SDP, signMetaBody } from '../fakes/meta-graph.ts';
import { eventually, type TestApp, type TestNumber } from './build-test-app.ts';
import { listEventsForCall } from './store-reads.ts';

let peerCounter = 0;
export const nextPeer = () => `5511${900_000_000 + ++peerCounter}`;

export async function storedCall(t: TestApp, number: TestNumber, id: string): Promise<Call | null> {
  return findCallForNumber(t.store.db, number.id, id);
}

export async function outbox(t: TestApp, call: Call): Promise<EventRecord[]> {
  return listEventsForCall(t.store.db, call.id);
}

export async function ringingCall(t: TestApp, number: TestNumber = t.numberA, from = nextPeer()): Promise<Call> {
  const wacid = await t.fake.incomingCall({ phoneNumberId: number.phoneNumberId, from });
  return eventually(() => storedCall(t, number, wacid), 3000, `call ${wacid} to be stored`);
}

export async function acceptedCall(t: TestApp, number: TestNumber = t.numberA): Promise<Call> {
  const call = await ringingCall(t, number);
  const res = await t.app.inject({
    method: 'POST',
    url: `/v1/calls/${call.id}/accept`,
    headers: { 'x-api-key': number.key.key },
    payload: { sdp: CANNED_ANSWER_SDP },
  });
  if (res.statusCode !== 200) {
    throw new Error(`accept failed: ${res.statusCode} ${res.body}`);
  }
  return (await storedCall(t, number, call.id))!;
}

/** Posts Meta `calls` webhook items (plus value-level fields such as `errors`) for the number, signed by its app. */
export async function postSignedCalls(
  t: TestApp,
  calls: Record<string, unknown>[],
  extra: Record<string, unknown> = {},
  number: TestNumber = t.numberA,
) {
  const body = JSON.stringify(t.fake.buildWebhook(number.phoneNumberId, { calls, ...extra }));
  return t.app.inject({
    method: 'POST',
    url: '/providers/meta/webhook',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaBody(body, number.appSecret) },
    payload: body,
  });
}

/** The stored call once it has `status` (within `ms`). */
export async function untilStatus(
  t: TestApp,
  number: TestNumber,
  id: string,
  status: CallStatus,
  ms = 3000,
): Promise<Call> {
  return eventually(
    async () => {
      const c = await storedCall(t, number, id);
      return c?.status === status ? c : null;
    },
    ms,
    `call ${id} to be ${status}`,
  );
}

/** A call in any state, reached by a realistic path. */
export async function callIn(t: TestApp, status: CallStatus, number: TestNumber = t.numberA): Promise<Call> {
  switch (status) {
    case 'RINGING':
      return ringingCall(t, number);
    case 'ACCEPTED':
      return acceptedCall(t, number);
    case 'COMPLETED': {
      const call = await acceptedCall(t, number);
      await t.fake.userHangsUp(call.externalCallId);
      return untilStatus(t, number, call.id, 'COMPLETED');
    }
    case 'FAILED': {
      const call = await acceptedCall(t, number);
      await t.fake.mediaFailure(call.externalCallId, 138021);
      return untilStatus(t, number, call.id, 'FAILED');
    }
    case 'MISSED': {
      const call = await ringingCall(t, number);
      await t.fake.userHangsUp(call.externalCallId);
      return untilStatus(t, number, call.id, 'MISSED');
    }
    case 'REJECTED': {
      const call = await ringingCall(t, number);
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/reject`,
        headers: { 'x-api-key': number.key.key },
      });
      if (res.statusCode !== 200) {
        throw new Error(`reject failed: ${res.statusCode} ${res.body}`);
      }
      return untilStatus(t, number, call.id, 'REJECTED');
    }
    case 'INITIATED':
      throw new Error('outbound calls are not built yet');
  }
}

/**
 * An accept Meta carries out (the call connects there) but answers only after `latencyMs`, past the app's
 * PROVIDER_TIMEOUT_MS: ours answers 502 and still has the call ringing.
 */
export async function acceptConnectedUnanswered(t: TestApp, call: Call, latencyMs: number): Promise<void> {
  t.fake.inject({ action: 'accept', times: 1, latencyMs });
  const accepted = await t.app.inject({
    method: 'POST',
    url: `/v1/calls/${call.id}/accept`,
    headers: { 'x-api-key': t.numberA.key.key },
    payload: { sdp: CANNED_ANSWER_SDP },
  });
  if (accepted.statusCode !== 502) {
    throw new Error(`accept answered ${accepted.statusCode}, not 502: ${accepted.body}`);
  }
  await eventually(async () => t.fake.callState(call.externalCallId) === 'ACTIVE', 5000, 'Meta to connect it');
}
