// A web number's ringing call changing while our reject is at the Evolution server. Answered on another device of the
// business: the server takes the reject (200) and WhatsApp ignores it, the call being up (providers-evolution-go.md
// §2.4); the call must not be recorded rejected or ended while it is up on the phone. Hung up by the caller: the end is
// the reject's (R7) and the provider's word that the call is over, so the reject is no longer unconfirmed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { outbox } from '../../../../test/helpers/calls.ts';
import {
  addWebNumber,
  ringingWebCall,
  type WebNumber,
  webCall,
  webCallUntil,
} from '../../../../test/helpers/evolution.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`a web call changing while our reject is at the server [${kind}]`, () => {
    let t: TestApp;
    let web: WebNumber;
    before(async () => {
      // The reject is held 1.5 s at the server, inside the provider's deadline, while the phone answers.
      t = await buildTestApp(kind, { env: { PROVIDER_TIMEOUT_MS: '5000' } });
      web = await addWebNumber(t, 'on');
    });
    after(async () => {
      await web.fake.close();
      await t.close();
    });

    /** Sends `action`, and answers the call on the phone while the server holds its /call/reject. */
    const answeredDuring = async (
      callId: string,
      externalCallId: string,
      action: 'reject' | 'terminate',
      /** The server's answer to the reject, when not its 200: a call it no longer rings is "not found" to it. */
      reply: { status: number; error: string } | null = null,
    ) => {
      web.fake.inject({ path: '/call/reject', callId: externalCallId, latencyMs: 1500, ...reply });
      const pending = t.app.inject({
        method: 'POST',
        url: `/v1/calls/${callId}/${action}`,
        headers: { 'x-api-key': web.key.key },
      });
      await eventually(async () => web.fake.countRequests({ path: '/call/reject', callId: externalCallId }) === 1);
      await web.fake.phoneAnswers(externalCallId);
      await webCallUntil(t, web, callId, 'ACCEPTED');
      return pending;
    };

    /** The reject's own entries in the call's timeline (GET /v1/calls/{id}/events). */
    const rejectNotes = async (callId: string) =>
      (
        (await t.app.inject({ url: `/v1/calls/${callId}/events`, headers: { 'x-api-key': web.key.key } })).json()
          .events as { source: string; type: string; detail: Record<string, unknown> }[]
      )
        .filter((e) => e.source === 'api' && e.type === 'reject')
        .map((e) => e.detail);

    test('reject: 409 ACCEPTED, the call stays up and its later end is its one call.ended', async () => {
      const call = await ringingWebCall(t, web);
      const res = await answeredDuring(call.id, call.externalCallId, 'reject');
      assert.equal(res.statusCode, 409, res.body);
      assert.deepEqual([res.json().code, res.json().details], ['CALL_STATE_CONFLICT', { status: 'ACCEPTED' }]);
      // The timeline says what the caller was told, not "rejected".
      assert.deepEqual(await rejectNotes(call.id), [
        {
          outcome: 'not rejected: answered meanwhile, the call stays up',
          providerAnswer: 'ok',
          error: 'CALL_STATE_CONFLICT',
        },
      ]);
      assert.equal(web.fake.call(call.externalCallId)?.phase, 'other', 'the call is up on the phone');
      const up = await webCall(t, web, call.id);
      assert.deepEqual([up?.status, up?.endedAt, up?.pendingAction], ['ACCEPTED', null, null]);
      await web.fake.peerHangsUp(call.externalCallId);
      await web.fake.flush();
      const ended = await webCallUntil(t, web, call.id, 'COMPLETED');
      assert.equal(ended.endedBy, 'PEER');
      assert.notEqual(ended.durationSeconds, null);
      assert.deepEqual(
        (await outbox(t, call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
    });

    test("reject: the caller's hang-up landing while the server holds it confirms it: 200 REJECTED, not unconfirmed", async () => {
      const call = await ringingWebCall(t, web);
      web.fake.inject({ path: '/call/reject', callId: call.externalCallId, latencyMs: 1500 });
      const pending = t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/reject`,
        headers: { 'x-api-key': web.key.key },
      });
      await eventually(async () => web.fake.countRequests({ path: '/call/reject', callId: call.externalCallId }) === 1);
      await web.fake.peerHangsUp(call.externalCallId);
      // The end of the call is the reject's (R7), and the provider's own word that the call is over.
      await webCallUntil(t, web, call.id, 'REJECTED');
      const res = await pending;
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'REJECTED' });
      const stored = await webCall(t, web, call.id);
      assert.deepEqual([stored?.endedBy, stored?.providerData?.unconfirmedEnd], ['BUSINESS', undefined]);
    });

    test('terminate: the answered call is hung up → 200 COMPLETED by BUSINESS, over on the phone too', async () => {
      const call = await ringingWebCall(t, web);
      const res = await answeredDuring(call.id, call.externalCallId, 'terminate');
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
      assert.equal(web.fake.countRequests({ path: '/call/hangup', callId: call.externalCallId }), 1);
      assert.equal(web.fake.call(call.externalCallId)?.phase, 'ended', 'the call is over on the phone');
      await web.fake.flush();
      const stored = await webCall(t, web, call.id);
      assert.deepEqual([stored?.status, stored?.endedBy, stored?.pendingAction], ['COMPLETED', 'BUSINESS', null]);
      assert.notEqual(stored?.durationSeconds, null);
      assert.deepEqual(
        (await outbox(t, call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
    });

    // The server may answer a reject of a call no longer ringing as one it does not know (404 "call not found", read
    // as "already ended"): that is no caller who hung up unanswered while the call is up on the phone.
    const notFound = { status: 404, error: 'call not found' };

    test('reject answered "not found": 409 ACCEPTED, never MISSED, its later end its one call.ended', async () => {
      const call = await ringingWebCall(t, web);
      const res = await answeredDuring(call.id, call.externalCallId, 'reject', notFound);
      assert.equal(res.statusCode, 409, res.body);
      assert.deepEqual([res.json().code, res.json().details], ['CALL_STATE_CONFLICT', { status: 'ACCEPTED' }]);
      assert.deepEqual(await rejectNotes(call.id), [
        {
          outcome: 'not rejected: answered meanwhile, the call stays up',
          providerAnswer: 'already ended',
          error: 'CALL_STATE_CONFLICT',
        },
      ]);
      const up = await webCall(t, web, call.id);
      assert.deepEqual([up?.status, up?.endedAt, up?.pendingAction], ['ACCEPTED', null, null]);
      await web.fake.peerHangsUp(call.externalCallId);
      await web.fake.flush();
      await webCallUntil(t, web, call.id, 'COMPLETED');
      assert.deepEqual(
        (await outbox(t, call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
    });

    test('terminate whose reject is answered "not found": the answered call is hung up, COMPLETED by BUSINESS', async () => {
      const call = await ringingWebCall(t, web);
      const res = await answeredDuring(call.id, call.externalCallId, 'terminate', notFound);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
      assert.equal(web.fake.countRequests({ path: '/call/hangup', callId: call.externalCallId }), 1);
      assert.equal(web.fake.call(call.externalCallId)?.phase, 'ended', 'the call is over on the phone');
      await web.fake.flush();
      const stored = await webCall(t, web, call.id);
      assert.deepEqual([stored?.status, stored?.endedBy], ['COMPLETED', 'BUSINESS']);
      assert.deepEqual(
        (await outbox(t, call)).map((e) => e.type),
        ['call.ringing', 'call.connected', 'call.ended'],
      );
    });
  });
}
