// Business-initiated calls on META, end to end against the Meta fake, and the sweeper's safety nets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_OFFER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { nextPeer, outbox, storedCall, untilStatus } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { type NumberId, newCallId, type TenantId } from '../../../ids.ts';
import type { Call, CallStatus } from '../../../model/call.ts';
import { insertCall } from '../../../store/calls.ts';

for (const kind of storeKinds()) {
  describe(`outbound calls [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      // PROVIDER_TIMEOUT_MS: the slow connect injected below (150 ms) must come inside the provider's deadline.
      // The sweeper runs for maxDurationSeconds; the ring timeout is long enough for the tests that answer to answer
      // on a slow machine (the no-answer test has its own app with a short one).
      t = await buildTestApp(kind, {
        env: { RING_TIMEOUT_SECONDS: '60', SWEEP_INTERVAL_MS: '100', PROVIDER_TIMEOUT_MS: '2000' },
        runSweeper: true,
      });
    });
    after(() => t.close());

    const start = (body: object, headers: Record<string, string> = {}) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/calls',
        headers: { 'x-api-key': t.numberA.key.key, ...headers },
        payload: body,
      });
    const permittedPeer = () => {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      return peer;
    };
    const until = (id: string, status: CallStatus, ms = 3000) =>
      eventually(
        async () => {
          const c = await storedCall(t, t.numberA, id);
          return c?.status === status ? c : null;
        },
        ms,
        `call to be ${status}`,
      );
    const types = async (call: Call) => (await outbox(t, call)).map((e) => e.type);

    test('start → RINGING → ACCEPTED → terminate → COMPLETED with a duration, each event once', async () => {
      const peer = permittedPeer();
      const res = await start({ to: `+${peer}`, sdp: CANNED_OFFER_SDP, bizOpaqueCallbackData: 'order-42' });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.match(body.id, /^call_/);
      assert.match(body.externalCallId, /^wacid\./);
      assert.ok(['INITIATED', 'RINGING'].includes(body.status));
      const connect = t.fake.requests.find((r) => r.body?.action === 'connect' && r.body?.to === peer);
      assert.equal(connect?.body.session.sdp_type, 'offer');
      assert.equal(connect?.body.biz_opaque_callback_data, 'order-42');

      await until(body.id, 'RINGING');
      await t.fake.userAnswers(body.externalCallId);
      const accepted = await until(body.id, 'ACCEPTED');
      assert.ok(accepted.connectedAt);
      assert.ok(accepted.sdpAnswer, "the answer SDP from Meta's connect webhook is kept");

      const hangUp = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${body.id}/terminate`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      assert.equal(hangUp.statusCode, 200);
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: body.externalCallId }), 1);
      await t.fake.flush();
      const done = await until(body.id, 'COMPLETED');
      assert.equal(done.endedBy, 'BUSINESS');
      assert.equal(typeof done.durationSeconds, 'number');
      assert.equal(done.bizOpaqueCallbackData, 'order-42');
      assert.deepEqual(await types(done), ['call.ringing', 'call.connected', 'call.ended']);
      assert.deepEqual(t.fake.violations, []);
    });

    test('start → the user declines → REJECTED by PEER, one call.ended', async () => {
      const res = await start({ to: permittedPeer(), sdp: CANNED_OFFER_SDP });
      assert.equal(res.statusCode, 201);
      const { id, externalCallId } = res.json();
      await until(id, 'RINGING');
      await t.fake.userDeclines(externalCallId);
      await t.fake.flush();
      const call = await until(id, 'REJECTED');
      assert.equal(call.endedBy, 'PEER');
      assert.deepEqual(await types(call), ['call.ringing', 'call.ended']);
    });

    test('start → no answer → FAILED by SYSTEM through the sweeper, and Meta is told to stop ringing', async () => {
      const quick = await buildTestApp(kind, {
        env: { RING_TIMEOUT_SECONDS: '1', SWEEP_INTERVAL_MS: '100' },
        runSweeper: true,
      });
      try {
        const peer = nextPeer();
        quick.fake.grantPermission(quick.numberA.phoneNumberId, peer, 'temporary');
        const res = await quick.app.inject({
          method: 'POST',
          url: '/v1/calls',
          headers: { 'x-api-key': quick.numberA.key.key },
          payload: { to: peer, sdp: CANNED_OFFER_SDP },
        });
        assert.equal(res.statusCode, 201, res.body);
        const { id, externalCallId } = res.json();
        const call = await untilStatus(quick, quick.numberA, id, 'FAILED', 8000);
        assert.equal(call.endedBy, 'SYSTEM');
        assert.equal(quick.fake.countRequests({ action: 'terminate', call_id: externalCallId }), 1);
        await quick.fake.flush();
        const ended = (await outbox(quick, call)).filter((e) => e.type === 'call.ended');
        assert.equal(ended.length, 1);
      } finally {
        await quick.close();
      }
    });

    test('maxDurationSeconds: 2 → terminated through Meta by SYSTEM within a few seconds of the limit', async () => {
      const res = await start({ to: permittedPeer(), sdp: CANNED_OFFER_SDP, maxDurationSeconds: 2 });
      const { id, externalCallId } = res.json();
      await until(id, 'RINGING');
      await t.fake.userAnswers(externalCallId);
      const accepted = await until(id, 'ACCEPTED');
      const done = await until(id, 'COMPLETED', 5000);
      assert.equal(done.endedBy, 'SYSTEM');
      const lateBy = Date.parse(done.endedAt!) - Date.parse(accepted.connectedAt!) - 2000;
      assert.ok(lateBy >= -1000 && lateBy < 2500, `ended ${lateBy} ms after the limit`);
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: externalCallId }), 1);
    });

    test('events that race ahead of our 201 are parked and applied once the call is stored', async () => {
      t.fake.inject({ action: 'connect', latencyMs: 150 });
      // Meta's connect/RINGING webhooks go out before its HTTP answer reaches us.
      t.fake.setEmitDefaults({ beforeResponse: 100 });
      try {
        const res = await start({ to: permittedPeer(), sdp: CANNED_OFFER_SDP });
        assert.equal(res.statusCode, 201, res.body);
        const call = await until(res.json().id, 'RINGING');
        assert.deepEqual(await types(call), ['call.ringing']);
      } finally {
        t.fake.setEmitDefaults({});
      }
    });

    const refusals: [string, number, object, number, string][] = [
      [
        'no permission (138006)',
        401,
        { code: 138006, message: '(#138006) No approved call permission found' },
        403,
        'META_CALL_PERMISSION_REQUIRED',
      ],
      ['concurrent call limit (138002)', 429, { code: 138002 }, 429, 'RATE_LIMITED'],
      ['initiation limit (138005)', 429, { code: 138005 }, 429, 'RATE_LIMITED'],
      [
        'pair limit (138012)',
        400,
        { code: 138012, error_data: { details: `Next call allowed at ${Math.floor(Date.now() / 1000) + 3600}` } },
        429,
        'RATE_LIMITED',
      ],
      ['uncallable user (138001)', 400, { code: 138001 }, 502, 'PROVIDER_ERROR'],
    ];
    for (const [name, status, error, expected, code] of refusals) {
      test(`Meta refusing a start for ${name} → ${expected} ${code}, no call stored`, async () => {
        t.fake.inject({ action: 'connect', status, error: error as never });
        const res = await start({ to: permittedPeer(), sdp: CANNED_OFFER_SDP });
        assert.equal(res.statusCode, expected, res.body);
        const body = res.json();
        assert.equal(body.code, code);
        if (expected === 429) {
          assert.equal(body.details.providerCode, (error as { code: number }).code);
        }
        if (name.includes('138012')) {
          assert.ok(body.details.retryAfterSeconds > 3000);
          assert.equal(res.headers['retry-after'], String(body.details.retryAfterSeconds));
        } else if (expected === 429) {
          // Meta named no time: a 429 still says when to come back (calls-api §6).
          assert.equal(res.headers['retry-after'], '5');
          assert.equal(body.details.retryAfterSeconds, undefined);
        }
      });
    }

    test("a start without an SDP on META: callgate's media engine makes the offer Meta receives", async () => {
      const res = await start({ to: permittedPeer() });
      assert.equal(res.statusCode, 201, res.body);
      const call = await storedCall(t, t.numberA, res.json().id);
      const sent = t.fake.requests.find((r) => r.body?.action === 'connect' && r.body?.to === call?.peerNumber);
      assert.equal(sent?.body.session.sdp_type, 'offer');
      assert.match(sent?.body.session.sdp, /a=rtpmap:\d+ opus\/48000\/2/);
      assert.equal(sent?.body.session.sdp, call?.sdpOffer);
      await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${res.json().id}/terminate`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
    });

    test('bizOpaqueCallbackData over 512 chars → 400', async () => {
      const res = await start({ to: permittedPeer(), sdp: CANNED_OFFER_SDP, bizOpaqueCallbackData: 'x'.repeat(513) });
      assert.equal(res.statusCode, 400);
    });

    test('accept, pre-accept and reject on an outbound call → 409 CALL_STATE_CONFLICT', async () => {
      const { id } = (await start({ to: permittedPeer(), sdp: CANNED_OFFER_SDP })).json();
      for (const action of ['accept', 'pre-accept', 'reject']) {
        const res = await t.app.inject({
          method: 'POST',
          url: `/v1/calls/${id}/${action}`,
          headers: { 'x-api-key': t.numberA.key.key },
          payload: { sdp: CANNED_OFFER_SDP },
        });
        assert.equal(res.statusCode, 409, `${action}: ${res.body}`);
        assert.equal(res.json().code, 'CALL_STATE_CONFLICT');
      }
    });
  });

  describe(`maxDurationSeconds behind a thousand longer calls [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, {
        env: { SWEEP_INTERVAL_MS: '100', PROVIDER_TIMEOUT_MS: '2000' },
        runSweeper: true,
      });
    });
    after(() => t.close());

    test('a short maxDurationSeconds still ends its call on time when 1,200 calls connected before it', async () => {
      // Answered an hour ago, allowed a day: the sweep reads them first, being the longest connected.
      const connectedAt = new Date(Date.now() - 3_600_000).toISOString();
      await t.store.db.transaction(async (tx) => {
        for (let i = 0; i < 1200; i++) {
          await insertCall(tx, longCall(t.tenantId, t.numberA.id, connectedAt, i));
        }
      });
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/calls',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { to: peer, sdp: CANNED_OFFER_SDP, maxDurationSeconds: 1 },
      });
      assert.equal(res.statusCode, 201, res.body);
      const { id, externalCallId } = res.json();
      await untilStatus(t, t.numberA, id, 'RINGING');
      await t.fake.userAnswers(externalCallId);
      await untilStatus(t, t.numberA, id, 'ACCEPTED');
      const done = await untilStatus(t, t.numberA, id, 'COMPLETED', 6000);
      assert.equal(done.endedBy, 'SYSTEM');
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: externalCallId }), 1);
    });
  });
}

/** An answered call stored as another process would have, allowed a day. */
function longCall(tenantId: TenantId, numberId: NumberId, connectedAt: string, i: number): Call {
  return {
    id: newCallId(),
    externalCallId: `wacid.long-${i}-${Math.random().toString(36).slice(2)}`,
    numberId,
    tenantId,
    direction: 'INBOUND',
    status: 'ACCEPTED',
    peerNumber: '5511900000000',
    peerUserId: null,
    peerLid: null,
    durationSeconds: null,
    startedAt: connectedAt,
    connectedAt,
    endedAt: null,
    endedBy: null,
    endReason: null,
    bizOpaqueCallbackData: null,
    sdpOffer: null,
    sdpAnswer: null,
    createdAt: connectedAt,
    updatedAt: connectedAt,
    maxDurationSeconds: 86_400,
    providerData: null,
    eventSeq: 0,
    pendingAction: null,
  };
}
