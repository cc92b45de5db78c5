// docs/spec/calls-api.md §4.7–4.8: what terminate does when Meta is down, slow, failing or says the call is over.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP, type InjectRule } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { acceptConnectedUnanswered, callIn, outbox, storedCall } from '../../../../test/helpers/calls.ts';
import { logSink } from '../../../../test/helpers/log-sink.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`terminate when Meta misbehaves [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      // The slow answers injected below (300 ms) must come well inside the provider's deadline: at the tests' usual
      // 400 ms a busy machine's stall of 100 ms turned an answer into "Meta did not answer" (a 502).
      t = await buildTestApp(kind, { env: { PROVIDER_TIMEOUT_MS: '2000' } });
    });
    after(() => t.close());

    const terminate = (id: string) =>
      t.app.inject({
        method: 'POST',
        url: `/v1/calls/${encodeURIComponent(id)}/terminate`,
        headers: { 'x-api-key': t.numberA.key.key },
      });

    // The adapter retries a down terminate once (within one deadline), so each failure is injected as often as the
    // adapter sends.
    const unavailable: [string, Omit<InjectRule, 'action'>][] = [
      // One deadline for the whole hang-up: a hung first request leaves no time for a second one.
      ['Meta hangs past the timeout', { hang: true, times: 1 }],
      ['Meta resets the connection', { reset: true }],
      [
        'Meta answers 503 with a Graph error',
        { status: 503, error: { code: 2, message: 'Service temporarily unavailable' } },
      ],
      ['Meta answers 502 with an HTML page', { status: 502, html: true }],
      ['Meta answers 200 success:false', { successFalse: true }],
    ];
    for (const [name, rule] of unavailable) {
      test(`${name} → 502 PROVIDER_UNAVAILABLE, call unchanged, a retry then succeeds`, async () => {
        const call = await callIn(t, 'ACCEPTED');
        t.fake.inject({ action: 'terminate', times: 2, ...rule });
        const first = await terminate(call.id);
        assert.equal(first.statusCode, 502, first.body);
        assert.equal(first.json().code, 'PROVIDER_UNAVAILABLE');
        // A failure Meta gave no code for (no answer, an HTML page) leaves providerCode out, never null.
        const details = first.json().details as Record<string, unknown>;
        assert.equal(typeof details.providerMessage, 'string', first.body);
        for (const [field, value] of Object.entries(details)) {
          assert.notEqual(value, null, `details.${field} is null: ${first.body}`);
        }
        const unchanged = await storedCall(t, t.numberA, call.id);
        assert.equal(unchanged?.status, 'ACCEPTED');
        assert.equal(unchanged?.pendingAction, null, 'the action slot is free again');
        assert.equal(
          (await outbox(t, call)).some((e) => e.type === 'call.ended'),
          false,
        );
        assert.equal(t.fake.callState(call.externalCallId), 'ACTIVE');

        const retry = await terminate(call.id);
        assert.equal(retry.statusCode, 200, retry.body);
        assert.deepEqual(retry.json(), { success: true, id: call.id, status: 'COMPLETED' });
        assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
      });
    }

    test("one network failure is absorbed by the adapter's single retry", async () => {
      const call = await callIn(t, 'ACCEPTED');
      t.fake.inject({ action: 'terminate', times: 1, status: 500, error: { code: 1 } });
      const res = await terminate(call.id);
      assert.equal(res.statusCode, 200, res.body);
    });

    test('Meta refusing with an auth error → 502 PROVIDER_ERROR with its code, call unchanged', async () => {
      const call = await callIn(t, 'ACCEPTED');
      t.fake.inject({
        action: 'terminate',
        status: 401,
        error: { code: 190, message: '(#190) Invalid OAuth access token' },
      });
      const res = await terminate(call.id);
      assert.equal(res.statusCode, 502);
      const body = res.json();
      assert.equal(body.code, 'PROVIDER_ERROR');
      assert.equal(body.details.providerCode, 190);
      assert.equal((await storedCall(t, t.numberA, call.id))?.status, 'ACCEPTED');
    });

    test('a Meta 429 on terminate is a 502, never our own 429', async () => {
      const call = await callIn(t, 'ACCEPTED');
      t.fake.inject({
        action: 'terminate',
        status: 429,
        error: { code: 4, message: '(#4) Application request limit reached' },
      });
      const res = await terminate(call.id);
      assert.equal(res.statusCode, 502);
      assert.equal(res.json().code, 'PROVIDER_ERROR');
      assert.equal(res.headers['retry-after'], undefined);
    });

    test('Meta says the call is already over → 200, endedBy PEER, one call.ended', async () => {
      const call = await callIn(t, 'ACCEPTED');
      // The user hung up, but Meta's webhook has not reached us yet.
      await t.fake.userHangsUp(call.externalCallId, { hold: true });
      const res = await terminate(call.id);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
      const stored = await storedCall(t, t.numberA, call.id);
      assert.equal(stored?.endedBy, 'PEER');
      await t.fake.releaseHeld();
      await t.fake.flush();
      const ended = (await outbox(t, call)).filter((e) => e.type === 'call.ended');
      assert.equal(ended.length, 1);
      assert.equal(ended[0]!.payload.endedBy, 'PEER');
      // The late webhook only fills in Meta's authoritative times.
      const final = await storedCall(t, t.numberA, call.id);
      assert.equal(final?.status, 'COMPLETED');
      assert.equal(typeof final?.durationSeconds, 'number');
    });

    test('concurrent terminates of a call Meta says is over share one answer: COMPLETED, no alreadyEnded (§4.6, §4.7)', async () => {
      const call = await callIn(t, 'ACCEPTED');
      await t.fake.userHangsUp(call.externalCallId, { hold: true });
      t.fake.inject({ action: 'terminate', times: 1, latencyMs: 300 });
      const first = terminate(call.id);
      await eventually(
        async () => (await storedCall(t, t.numberA, call.id))?.pendingAction?.kind === 'terminate',
        2000,
        'terminate in flight',
      );
      const responses = await Promise.all([first, terminate(call.id)]);
      for (const res of responses) {
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
      }
      assert.equal((await storedCall(t, t.numberA, call.id))?.endedBy, 'PEER');
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
      await t.fake.releaseHeld();
      await t.fake.flush();
    });

    test("a terminate that waits on a failing accept sends its own hang-up, not the accept's error", async () => {
      const call = await callIn(t, 'RINGING');
      // Meta refuses the accept with a rate limit (a 429 to the accept); the terminate behind it must not inherit it.
      t.fake.inject({
        action: 'accept',
        times: 1,
        latencyMs: 300,
        status: 400,
        error: { code: 130429, message: 'Rate limit hit' },
      });
      const accept = t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/accept`,
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { sdp: CANNED_ANSWER_SDP },
      });
      await eventually(
        async () => (await storedCall(t, t.numberA, call.id))?.pendingAction?.kind === 'accept',
        2000,
        'accept in flight',
      );
      const res = await terminate(call.id);
      assert.equal((await accept).statusCode, 429);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
      assert.equal(t.fake.countRequests({ action: 'reject', call_id: call.externalCallId }), 1);
      const stored = await storedCall(t, t.numberA, call.id);
      assert.equal(stored?.status, 'COMPLETED');
      assert.equal(stored?.endedBy, 'BUSINESS');
      assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
      await t.fake.flush();
    });

    test('a terminate that waits on a reject which ends the call answers alreadyEnded with REJECTED', async () => {
      const call = await callIn(t, 'RINGING');
      t.fake.inject({ action: 'reject', times: 1, latencyMs: 300 });
      const reject = t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/reject`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      await eventually(
        async () => (await storedCall(t, t.numberA, call.id))?.pendingAction?.kind === 'reject',
        2000,
        'reject in flight',
      );
      const res = await terminate(call.id);
      assert.equal((await reject).statusCode, 200);
      assert.equal(res.statusCode, 200, res.body);
      // The terminate ended nothing: the call had ended REJECTED, as §4.4 answers for any call already over.
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'REJECTED', alreadyEnded: true });
      assert.equal(t.fake.countRequests({ action: 'reject', call_id: call.externalCallId }), 1);
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 0);
      assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
      await t.fake.flush();
    });

    test('concurrent terminates with one Idempotency-Key: one action at Meta, both get its 502, a retry runs again', async () => {
      const call = await callIn(t, 'ACCEPTED');
      // Down for the first action and its one retry: a second action would get through and succeed.
      t.fake.inject({ action: 'terminate', times: 2, latencyMs: 150, status: 503, error: { code: 2 } });
      const send = () =>
        t.app.inject({
          method: 'POST',
          url: `/v1/calls/${call.id}/terminate`,
          headers: { 'x-api-key': t.numberA.key.key, 'idempotency-key': `kill-${call.id}` },
        });
      const first = send();
      await eventually(
        async () => (await storedCall(t, t.numberA, call.id))?.pendingAction?.kind === 'terminate',
        2000,
        'terminate in flight',
      );
      const [a, b] = await Promise.all([first, send()]);
      assert.deepEqual([a.statusCode, b.statusCode], [502, 502], b.body);
      assert.equal(b.json().code, 'PROVIDER_UNAVAILABLE');
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 2, 'one action');
      assert.equal((await storedCall(t, t.numberA, call.id))?.status, 'ACCEPTED');

      const retry = await send();
      assert.equal(retry.statusCode, 200, retry.body);
      assert.equal(retry.headers['idempotent-replayed'], undefined);
      assert.deepEqual(retry.json(), { success: true, id: call.id, status: 'COMPLETED' });
      assert.equal((await send()).headers['idempotent-replayed'], 'true');
      await t.fake.flush();
    });

    test("Meta's end webhook landing while our terminate is in flight: COMPLETED by BUSINESS, one call.ended", async () => {
      const call = await callIn(t, 'ACCEPTED');
      t.fake.inject({ action: 'terminate', latencyMs: 300 });
      const pending = terminate(call.id);
      await eventually(
        async () => (await storedCall(t, t.numberA, call.id))?.pendingAction !== null,
        2000,
        'action in flight',
      );
      await t.fake.userHangsUp(call.externalCallId);
      await eventually(
        async () => (await storedCall(t, t.numberA, call.id))?.status === 'COMPLETED',
        2000,
        'webhook applied',
      );
      const res = await pending;
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().status, 'COMPLETED');
      const stored = await storedCall(t, t.numberA, call.id);
      assert.equal(stored?.endedBy, 'BUSINESS');
      assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
    });

    test('an accept Meta did not answer in time but carried out: terminate hangs the connected call up at Meta', async () => {
      const call = await callIn(t, 'RINGING');
      await acceptConnectedUnanswered(t, call, 2500);
      assert.equal((await storedCall(t, t.numberA, call.id))?.status, 'RINGING', 'ours never learnt it connected');

      const res = await terminate(call.id);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
      assert.equal(t.fake.callState(call.externalCallId), 'ENDED', 'the user is no longer connected to nobody');
      assert.equal((await storedCall(t, t.numberA, call.id))?.endedBy, 'BUSINESS');
      await t.fake.flush();
      assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
      // The reject sent first (the call was ringing as far as we knew) is what the fake flags; nothing else.
      assert.deepEqual(
        t.fake.violations.filter((v) => !v.includes(call.externalCallId)),
        [],
      );
    });
  });
}

describe('a Graph error that quotes the access token', () => {
  let t: TestApp;
  const sink = logSink();
  before(async () => {
    t = await buildTestApp('sqlite', { logger: sink.logger });
  });
  after(() => t.close());

  test('the token reaches neither the 502 nor the logs', async () => {
    const call = await callIn(t, 'ACCEPTED');
    // What Graph says of a pasted token with a stray character: the token, quoted.
    const token = 'EAAG-token-a';
    t.fake.inject({
      action: 'terminate',
      status: 400,
      error: { code: 190, type: 'OAuthException', message: `Malformed access token ${token}` },
    });
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/calls/${call.id}/terminate`,
      headers: { 'x-api-key': t.numberA.key.key },
    });
    assert.equal(res.statusCode, 502, res.body);
    assert.match(res.json().details.providerMessage, /^\(#190\) Malformed access token \[redacted\]/);
    assert.doesNotMatch(res.body, new RegExp(token));
    const logged = sink.lines.filter((l) => JSON.stringify(l).includes(token));
    assert.deepEqual(logged, []);
    assert.ok(sink.find(/provider META endCall failed/).length > 0, 'the failure itself is logged');
  });
});
