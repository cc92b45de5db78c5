// Web numbers against what real Evolution Go servers send and answer (issue 16): LID callers, and a /call/reject
// whose 200 proves only that the stanza left.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { nextPeer } from '../../../../test/helpers/calls.ts';
import { addWebNumber, ringingWebCall, type WebNumber, webCallUntil } from '../../../../test/helpers/evolution.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`web numbers: real Evolution payloads [${kind}]`, () => {
    let t: TestApp;
    let web: WebNumber;
    before(async () => {
      t = await buildTestApp(kind);
      web = await addWebNumber(t, 'on');
    });
    after(async () => {
      await web.fake.close();
      await t.close();
    });

    const get = async (path: string) =>
      (await t.app.inject({ url: path, headers: { 'x-api-key': web.key.key } })).json();

    test('a caller showing only its LID: peerNumber null, peerLid and peerIsLid, never the LID as a phone', async () => {
      const id = await web.fake.incomingCall({
        instanceId: web.instanceId,
        from: nextPeer(),
        lid: '187654321098765',
        phoneHidden: true,
      });
      await web.fake.flush();
      const stored = await webCallUntil(t, web, id, 'RINGING');
      const call = await get(`/v1/calls/${stored.id}`);
      assert.equal(call.peerNumber, null);
      assert.equal(call.peerLid, '187654321098765');
      assert.equal(call.peerIsLid, true);
    });

    test('a LID caller whose phone JID comes along (CallCreatorAlt): the phone is the peerNumber', async () => {
      const phone = nextPeer();
      const id = await web.fake.incomingCall({
        instanceId: web.instanceId,
        from: phone,
        lid: '187654321000001',
        creatorIsLid: true,
      });
      await web.fake.flush();
      const stored = await webCallUntil(t, web, id, 'RINGING');
      const call = await get(`/v1/calls/${stored.id}`);
      assert.equal(call.peerNumber, phone);
      assert.equal(call.peerLid, '187654321000001');
      assert.equal(call.peerIsLid, false);
    });

    test('a LID-only caller the server declined itself (rejectCall on, no CallOffer) is still recorded', async () => {
      // docs/spec/providers-evolution-go.md §4: an end whose offer never came records the call; a caller shown only
      // by its LID is a caller like any other (our own LID would come with our phone as CallCreatorAlt).
      const stock = await addWebNumber(t, 'off');
      try {
        stock.fake.setRejectCall(stock.instanceId, true, 'busy');
        const id = await stock.fake.incomingCall({
          instanceId: stock.instanceId,
          from: nextPeer(),
          lid: '187654321000002',
          phoneHidden: true,
        });
        await stock.fake.flush();
        const call = await webCallUntil(t, stock, id, 'REJECTED');
        assert.equal(call.direction, 'INBOUND');
        assert.equal(call.peerNumber, null);
        assert.equal(call.peerLid, '187654321000002');
        assert.equal(call.endReason, 'rejected_elsewhere');
      } finally {
        await stock.fake.close();
      }
    });

    test("reject's 200 is unconfirmed until the server's terminate event, and the timeline shows both", async () => {
      const call = await ringingWebCall(t, web);
      web.fake.setEmitDefaults({ hold: true });
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/reject`,
        headers: { 'x-api-key': web.key.key },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().status, 'REJECTED');
      assert.equal(res.json().providerConfirmed, false);
      const rejectEntry = async () =>
        (await get(`/v1/calls/${call.id}/events`)).events.find(
          (e: { source: string; type: string }) => e.source === 'api' && e.type === 'reject',
        );
      assert.equal((await rejectEntry()).detail.providerConfirmed, false);

      web.fake.setEmitDefaults({});
      await web.fake.releaseHeld();
      await web.fake.flush();
      const confirmed = await eventually(
        async () => {
          const entry = await rejectEntry();
          return entry.detail.providerConfirmed === true ? entry : null;
        },
        3000,
        'the reject to be confirmed',
      );
      assert.equal(confirmed.detail.outcome, 'rejected');
      const events = (await get(`/v1/calls/${call.id}/events`)).events as {
        source: string;
        type: string;
        detail: Record<string, unknown>;
      }[];
      const end = events.find((e) => e.source === 'provider' && e.type === 'end');
      assert.equal(end?.detail.confirms, 'providerConfirmed');
      assert.equal((await get(`/v1/calls/${call.id}`)).status, 'REJECTED', 'the call stays REJECTED');
    });
  });
}
