// A call Meta placed for a POST /v1/calls that never stored it (the request gave up waiting for Meta's answer, or
// its process died before the insert) rings a user callgate knows nothing of: the sweep ends it at Meta once no
// request can still be storing it, and leaves alone the calls that were stored or that Meta already ended.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_OFFER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { nextPeer } from '../../../../test/helpers/calls.ts';
import { addWebNumber } from '../../../../test/helpers/evolution.ts';
import { ManualClock } from '../../../../test/helpers/manual-clock.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

const PROVIDER_TIMEOUT_MS = 400;
/** The provider's deadline and the grace for the insert after it (src/calls/unclaimed-outbound.ts). */
const UNCLAIMED_AFTER_MS = PROVIDER_TIMEOUT_MS + 10_000;

for (const kind of storeKinds()) {
  describe(`outbound calls Meta placed that no request stored [${kind}]`, () => {
    let t: TestApp;
    const clock = new ManualClock(Date.now());
    before(async () => {
      t = await buildTestApp(kind, { clock, env: { PROVIDER_TIMEOUT_MS: String(PROVIDER_TIMEOUT_MS) } });
    });
    after(() => t.close());

    const start = (to: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/calls',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { to: `+${to}`, sdp: CANNED_OFFER_SDP },
      });
    const parked = async (wacid: string) =>
      (await t.store.db.query('SELECT id FROM parked_events WHERE external_call_id = $1', [wacid])).length;
    const terminates = (wacid: string) => t.fake.countRequests({ action: 'terminate', call_id: wacid });

    /** A connect Meta answers only after our deadline: the request fails, the call rings at Meta. */
    async function placedTooLate(): Promise<string> {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      t.fake.inject({ action: 'connect', times: 1, latencyMs: PROVIDER_TIMEOUT_MS + 400 });
      const res = await start(peer);
      assert.equal(res.statusCode, 502, res.body);
      await eventually(async () => t.fake.requests.some((r) => r.body?.to === peer && r.response?.calls));
      const placed = t.fake.requests.find((r) => r.body?.action === 'connect' && r.body?.to === peer);
      const wacid = String(placed?.response?.calls?.[0]?.id);
      // Meta's connect and RINGING status for it reach callgate, which knows no such call and parks them.
      await eventually(async () => (await parked(wacid)) === 2, 5000, 'the call’s events parked');
      assert.equal(t.fake.callState(wacid), 'CALLING', 'the user’s phone rings');
      return wacid;
    }

    test('a connect answered after our deadline: ended at Meta by the sweep once no request can store it', async () => {
      const wacid = await placedTooLate();
      clock.advance(UNCLAIMED_AFTER_MS - 1_000);
      await t.sweeper.sweepOnce();
      assert.equal(terminates(wacid), 0, 'not while a request could still be storing it');
      assert.equal(t.fake.callState(wacid), 'CALLING');

      clock.advance(2_000);
      await t.sweeper.sweepOnce();
      assert.equal(terminates(wacid), 1);
      assert.equal(t.fake.callState(wacid), 'ENDED', 'the phone stops ringing');
      // Meta's terminate webhook for it is parked again; nothing about it ever reaches the API.
      const calls = await t.store.db.query('SELECT id FROM calls WHERE external_call_id = $1', [wacid]);
      assert.equal(calls.length, 0);
      clock.advance(UNCLAIMED_AFTER_MS + 1_000);
      await t.sweeper.sweepOnce();
      assert.equal(terminates(wacid), 1, 'its own end is news enough: not terminated twice');
    });

    test('the end Meta sends for a call the sweep ended does not take the attempt of the next one', async () => {
      const first = await placedTooLate();
      clock.advance(UNCLAIMED_AFTER_MS + 1_000);
      await t.sweeper.sweepOnce();
      assert.equal(terminates(first), 1);
      // Meta's terminate webhook for it: parked again, under the same id no call claims.
      await eventually(async () => (await parked(first)) === 1, 5000, 'its end parked');
      clock.advance(1_000);
      // The client's retry meets a slow Meta again: a second call placed that no request stored.
      const second = await placedTooLate();
      clock.advance(UNCLAIMED_AFTER_MS + 1_000);
      await t.sweeper.sweepOnce();
      assert.equal(terminates(first), 1);
      assert.equal(terminates(second), 1, 'the second call is ended too');
      assert.equal(t.fake.callState(second), 'ENDED', 'the phone stops ringing');
    });

    test('one the user declined before the sweep: Meta already ended it, so nothing is sent', async () => {
      const wacid = await placedTooLate();
      await t.fake.userDeclines(wacid);
      // REJECTED, then the terminate that always follows it.
      await eventually(async () => (await parked(wacid)) === 4, 5000, 'the decline parked');
      clock.advance(UNCLAIMED_AFTER_MS + 1_000);
      await t.sweeper.sweepOnce();
      assert.equal(terminates(wacid), 0);
      assert.equal(await parked(wacid), 0, 'forgotten');
    });

    test('a web number’s call placed from its phone, answered by the peer, is never hung up', async (ctx) => {
      const web = await addWebNumber(t);
      ctx.after(() => web.fake.close());
      const own = web.fake.instance(web.instanceId).ownNumber;
      const peer = nextPeer();
      const externalCallId = 'E0000000000000000000000000000B01';
      // The account's owner called from the phone: its events name our own number as the creator, like a dial of ours.
      await web.fake.emitRaw(web.instanceId, 'CallAccept', {
        CallID: externalCallId,
        CallCreator: `${own}@s.whatsapp.net`,
        CallCreatorAlt: '',
        From: `${peer}@s.whatsapp.net`,
        GroupJID: '',
        Timestamp: new Date(clock.now().getTime()).toISOString(),
      });
      await web.fake.flush();
      await eventually(async () => (await parked(externalCallId)) === 1, 5000, 'the accept parked');
      clock.advance(UNCLAIMED_AFTER_MS + 1_000);
      await t.sweeper.sweepOnce();
      assert.equal(web.fake.countRequests({ path: '/call/hangup' }), 0, 'the owner’s own call goes on');
    });

    test('a call another app placed on the number (no request here made it) is left alone', async () => {
      const wacid = 'wacid.placed-by-another-app';
      const status = (value: string) => ({
        id: wacid,
        type: 'call',
        status: value,
        timestamp: String(Math.floor(Date.now() / 1000)),
        recipient_id: nextPeer(),
      });
      await t.fake.sendWebhook(t.fake.buildWebhook(t.numberA.phoneNumberId, { statuses: [status('RINGING')] }));
      await eventually(async () => (await parked(wacid)) === 1, 5000, 'its status parked');
      clock.advance(UNCLAIMED_AFTER_MS + 1_000);
      await t.sweeper.sweepOnce();
      assert.equal(terminates(wacid), 0, 'not ours to hang up');
      assert.equal(await parked(wacid), 0, 'its events dropped, as R6 says');
    });

    test('a call its request stored is never touched', async () => {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      // Meta's webhooks beat its own 200: they are parked, then claimed by the insert.
      t.fake.setEmitDefaults({ beforeResponse: true });
      const res = await start(peer);
      t.fake.setEmitDefaults({});
      assert.equal(res.statusCode, 201, res.body);
      const { id, externalCallId } = res.json();
      clock.advance(UNCLAIMED_AFTER_MS + 1_000);
      await t.sweeper.sweepOnce();
      assert.equal(terminates(externalCallId), 0);
      assert.equal(t.fake.callState(externalCallId), 'CALLING');
      const call = await t.app.inject({ url: `/v1/calls/${id}`, headers: { 'x-api-key': t.numberA.key.key } });
      assert.equal(call.json().status, 'RINGING');
    });
  });
}
