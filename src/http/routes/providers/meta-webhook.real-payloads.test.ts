// Meta payloads seen in real integrations (issue 16): account_settings_update and webhooks for numbers we do not
// hold, signed by one of our apps, are answered 200 so Meta stops retrying; the settings update is applied.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestWorker, type TestWorker, workerConfig } from '../../../../test/e2e/webhook-helpers.ts';
import { CANNED_ANSWER_SDP, CANNED_OFFER_SDP, signMetaBody } from '../../../../test/fakes/meta-graph.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../../../test/fakes/webhook-receiver.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, nextPeer, postSignedCalls, storedCall, untilStatus } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`Meta real payloads [${kind}]`, () => {
    let t: TestApp;
    let receiver: WebhookReceiver;
    let worker: TestWorker;
    before(async () => {
      t = await buildTestApp(kind, { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
      receiver = await startWebhookReceiver();
      worker = startTestWorker(t.store.db, workerConfig());
    });
    after(async () => {
      await worker.stop();
      await receiver.close();
      await t.close();
    });
    const keyA = () => ({ 'x-api-key': t.numberA.key.key });

    test('a caller Meta names only by from_user_id rings: peerUserId set, peerNumber null, and can be answered', async () => {
      const user = nextPeer();
      t.fake.setUserIdentity(user, { userId: 'BR.1A2B3C4D5E6F', phoneHidden: true });
      const wacid = await t.fake.incomingCall({ phoneNumberId: t.numberA.phoneNumberId, from: user });
      const stored = await eventually(() => storedCall(t, t.numberA, wacid), 3000, 'the call to be stored');
      const res = await t.app.inject({ url: `/v1/calls/${stored.id}`, headers: keyA() });
      const call = res.json();
      assert.equal(call.status, 'RINGING');
      assert.equal(call.direction, 'INBOUND');
      assert.equal(call.peerNumber, null);
      assert.equal(call.peerUserId, 'BR.1A2B3C4D5E6F');
      assert.equal(call.peerIsLid, false);
      const accepted = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${stored.id}/accept`,
        headers: keyA(),
        payload: { sdp: CANNED_ANSWER_SDP },
      });
      assert.equal(accepted.statusCode, 200, accepted.body);
      assert.equal(t.fake.callState(wacid), 'ACTIVE', 'Meta connected the call');
    });

    test("the call button's or deeplink's payload shows on the call; a terminate_reason becomes its endReason", async () => {
      const wacid = await t.fake.incomingCall({
        phoneNumberId: t.numberA.phoneNumberId,
        from: nextPeer(),
        ctaPayload: 'support-button-XYZ',
        deeplinkPayload: 'deep-ABC',
      });
      const stored = await eventually(() => storedCall(t, t.numberA, wacid), 3000, 'the call to be stored');
      const call = (await t.app.inject({ url: `/v1/calls/${stored.id}`, headers: keyA() })).json();
      assert.equal(call.ctaPayload, 'support-button-XYZ');
      assert.equal(call.deeplinkPayload, 'deep-ABC');
      const listed = (await t.app.inject({ url: '/v1/calls?limit=5', headers: keyA() })).json();
      const item = listed.calls.find((c: { id: string }) => c.id === stored.id);
      assert.equal(item?.ctaPayload, 'support-button-XYZ', 'lists show it too');

      const now = Math.floor(Date.now() / 1000);
      const res = await postSignedCalls(t, [
        {
          id: wacid,
          to: t.numberA.displayPhoneNumber,
          event: 'terminate',
          direction: 'USER_INITIATED',
          timestamp: String(now),
          status: 'FAILED',
          terminate_reason: 'user_busy',
        },
      ]);
      assert.equal(res.statusCode, 200, res.body);
      const ended = await eventually(async () => {
        const c = await storedCall(t, t.numberA, wacid);
        return c?.status === 'MISSED' ? c : null;
      });
      assert.equal(ended.endReason, 'user_busy');
      assert.equal(ended.endedBy, 'PEER');
      const plain = await t.fake.incomingCall({ phoneNumberId: t.numberA.phoneNumberId, from: nextPeer() });
      const bare = await eventually(() => storedCall(t, t.numberA, plain), 3000, 'the other call');
      const shown = (await t.app.inject({ url: `/v1/calls/${bare.id}`, headers: keyA() })).json();
      assert.equal('ctaPayload' in shown || 'deeplinkPayload' in shown, false, 'absent when Meta named none');
    });

    test('a caller with both a phone and a user id keeps both', async () => {
      const user = nextPeer();
      t.fake.setUserIdentity(user, { userId: 'BR.BOTH0001' });
      const wacid = await t.fake.incomingCall({ phoneNumberId: t.numberA.phoneNumberId, from: user });
      const stored = await eventually(() => storedCall(t, t.numberA, wacid), 3000, 'the call');
      assert.equal(stored.peerNumber, user);
      assert.equal(stored.peerUserId, 'BR.BOTH0001');
    });

    test("a BSUID given only in contacts[].user_id is kept, matched by wa_id, never by the contact's position", async () => {
      // docs/spec/providers-meta.md §3.3: contacts may carry user_id; store it if present; match by wa_id == from.
      const [first, second] = [nextPeer(), nextPeer()];
      const ts = String(Math.floor(Date.now() / 1000));
      const connect = (from: string) => ({
        id: `wacid.CONTACT${from}`,
        from,
        to: t.numberA.displayPhoneNumber,
        event: 'connect',
        timestamp: ts,
        direction: 'USER_INITIATED',
        session: { sdp_type: 'offer', sdp: CANNED_OFFER_SDP },
      });
      const res = await postSignedCalls(t, [connect(first), connect(second)], {
        // Listed in the other order, and only the second caller has a user id.
        contacts: [
          { profile: { name: 'Second' }, wa_id: second, user_id: 'BR.CONTACT0002', parent_user_id: 'BR.PARENT0002' },
          { profile: { name: 'First' }, wa_id: first },
        ],
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await storedCall(t, t.numberA, `wacid.CONTACT${first}`))?.peerUserId, null);
      const call = await storedCall(t, t.numberA, `wacid.CONTACT${second}`);
      assert.equal(call?.peerNumber, second);
      assert.equal(call?.peerUserId, 'BR.CONTACT0002');
      const shown = (await t.app.inject({ url: `/v1/calls/${call?.id}`, headers: keyA() })).json();
      assert.equal(shown.peerUserId, 'BR.CONTACT0002');
      assert.equal(shown.peerParentUserId, 'BR.PARENT0002', 'its parent id is kept and shown too (§3.3)');
      const other = (await t.app.inject({ url: `/v1/calls/wacid.CONTACT${first}`, headers: keyA() })).json();
      assert.equal(other.peerNumber, first);
      assert.equal('peerParentUserId' in other, false, "another caller's contact gives it none");
    });

    test('a connect without `direction` is told inbound by session.sdp_type=offer', async () => {
      const user = nextPeer();
      const wacid = await t.fake.incomingCall({
        phoneNumberId: t.numberA.phoneNumberId,
        from: user,
        omitDirection: true,
      });
      const stored = await eventually(() => storedCall(t, t.numberA, wacid), 3000, 'the call to be stored');
      assert.equal(stored.direction, 'INBOUND');
      assert.equal(stored.status, 'RINGING');
      assert.equal(stored.peerNumber, user);
    });

    test('a permission reply from a user named only by user id: call.permission_updated with peerUserId', async () => {
      const created = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: keyA(),
        payload: { url: `${receiver.url}/perm`, events: ['call.permission_updated'] },
      });
      assert.equal(created.statusCode, 201, created.body);
      const user = nextPeer();
      t.fake.setUserIdentity(user, { userId: 'BR.PERM0001', phoneHidden: true });
      await t.fake.userRepliesToPermission(t.numberA.phoneNumberId, user, 'accept', { permanent: true });
      await receiver.waitFor((r) => r.some((x) => x.path === '/hook/perm'), 5000, 'the permission event');
      const body = receiver.requests.find((x) => x.path === '/hook/perm')?.body;
      assert.equal(body.event, 'call.permission_updated');
      assert.equal(body.status, 'PERMANENT');
      assert.equal(body.peerNumber, null);
      assert.equal(body.peerUserId, 'BR.PERM0001');
    });

    test('a permission reply whose user id is only in contacts[]: call.permission_updated carries it', async () => {
      const created = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: keyA(),
        payload: { url: `${receiver.url}/perm-contacts`, events: ['call.permission_updated'] },
      });
      assert.equal(created.statusCode, 201, created.body);
      const user = nextPeer();
      const body = JSON.stringify(
        t.fake.buildWebhook(
          t.numberA.phoneNumberId,
          {
            contacts: [{ profile: { name: 'Ana' }, wa_id: user, user_id: 'BR.PERMCONTACT1' }],
            messages: [
              {
                from: user,
                id: `wamid.PERMCONTACT${user}`,
                timestamp: String(Math.floor(Date.now() / 1000)),
                type: 'interactive',
                interactive: {
                  type: 'call_permission_reply',
                  call_permission_reply: { response: 'accept', is_permanent: true, response_source: 'user_action' },
                },
              },
            ],
          },
          'messages',
        ),
      );
      const res = await t.app.inject({
        method: 'POST',
        url: '/providers/meta/webhook',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaBody(body, t.numberA.appSecret) },
        payload: body,
      });
      assert.equal(res.statusCode, 200, res.body);
      const path = '/hook/perm-contacts';
      await receiver.waitFor((r) => r.some((x) => x.path === path), 5000, 'the permission event');
      const event = receiver.requests.find((x) => x.path === path)?.body;
      assert.equal(event.peerNumber, user);
      assert.equal(event.peerUserId, 'BR.PERMCONTACT1');
    });

    const statusesOf = (field: string) =>
      t.fake.webhookAttempts.filter((a) => a.body.includes(`"field":"${field}"`)).map((a) => a.status);

    test('our own settings change comes back as account_settings_update: 200, kept on the number', async () => {
      const res = await t.app.inject({
        method: 'PUT',
        url: '/v1/calls/settings',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { status: 'ENABLED', call_icon_visibility: 'DISABLE_ALL' },
      });
      assert.equal(res.statusCode, 200, res.body);
      const number = await eventually(
        async () => {
          const n = (
            await t.app.inject({ url: `/v1/numbers/${t.numberA.id}`, headers: { 'x-api-key': t.tenantKey.key } })
          ).json();
          return n.meta.callingSettings ? n : null;
        },
        3000,
        'the settings update to be applied',
      );
      assert.equal(number.meta.callingSettings.call_icon_visibility, 'DISABLE_ALL');
      assert.equal(typeof number.meta.callingSettingsAt, 'string');
      await t.fake.flush();
      assert.deepEqual(statusesOf('account_settings_update'), [200], 'accepted at the first attempt');
    });

    test('account_settings_update about a number we do not hold, signed by our app: 200 and nothing changes', async () => {
      const before = t.fake.webhookAttempts.length;
      await t.fake.accountSettingsUpdate(t.numberB.phoneNumberId, { about: '123456789012345' });
      await t.fake.flush();
      const attempts = t.fake.webhookAttempts.slice(before);
      assert.deepEqual(
        attempts.map((a) => a.status),
        [200],
      );
      const b = (
        await t.app.inject({ url: `/v1/numbers/${t.numberB.id}`, headers: { 'x-api-key': t.tenantKey.key } })
      ).json();
      assert.equal(b.meta.callingSettings, undefined, "numberB's record is untouched");
    });

    test('account_settings_update nested deeper than JSON.stringify goes: 200, and the settings are not kept', async () => {
      const body = JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [
          {
            id: '102290129340399',
            changes: [
              {
                field: 'account_settings_update',
                value: { phone_number_settings: { phone_number_id: t.numberB.phoneNumberId, calling: { x: 'DEEP' } } },
              },
            ],
          },
        ],
      }).replace('"DEEP"', `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
      const res = await t.app.inject({
        method: 'POST',
        url: '/providers/meta/webhook',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaBody(body, t.numberB.appSecret) },
        payload: body,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { received: 0 });
    });

    test('a WABA-level change naming no number: 200 when signed by our app, 401 when not', async () => {
      const body = JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [
          { id: '102290129340398', changes: [{ field: 'account_review_update', value: { decision: 'APPROVED' } }] },
        ],
      });
      const post = (signature?: string) =>
        t.app.inject({
          method: 'POST',
          url: '/providers/meta/webhook',
          headers: { 'content-type': 'application/json', ...(signature ? { 'x-hub-signature-256': signature } : {}) },
          payload: body,
        });
      const signed = await post(signMetaBody(body, t.numberB.appSecret));
      assert.equal(signed.statusCode, 200);
      assert.deepEqual(signed.json(), { received: 0 });
      assert.equal((await post(signMetaBody(body, 'someone-else'))).statusCode, 401);
      assert.equal((await post()).statusCode, 401);
    });

    test('a terminate with absurd times or duration is taken, 200, with a duration a call can have', async () => {
      for (const [what, times] of Object.entries({
        'a duration past any integer column': { start_time: '1767870015', end_time: '1767870195', duration: 2 ** 31 },
        'a start in 1970 and an end in the year 5000': { start_time: '1', end_time: '95617584000' },
      })) {
        const call = await callIn(t, 'ACCEPTED');
        const res = await postSignedCalls(t, [
          {
            id: call.externalCallId,
            from: t.numberA.displayPhoneNumber,
            to: call.peerNumber,
            event: 'terminate',
            timestamp: String(Math.floor(Date.now() / 1000)),
            direction: 'BUSINESS_INITIATED',
            status: 'COMPLETED',
            ...times,
          },
        ]);
        assert.equal(res.statusCode, 200, `${what}: ${res.body}`);
        const ended = await untilStatus(t, t.numberA, call.id, 'COMPLETED');
        assert.ok(
          ended.durationSeconds !== null && ended.durationSeconds <= 7 * 24 * 3600,
          `${what}: ${ended.durationSeconds}`,
        );
      }
    });

    test('an unknown field nested deeper than JSON.stringify goes: 200 and the call rings, with or without a calls webhook', async () => {
      const deepConnect = (number: typeof t.numberA) => {
        const wacid = `wacid.deep${Date.now()}${number.phoneNumberId}`;
        const payload = t.fake.buildWebhook(number.phoneNumberId, {
          calls: [
            {
              id: wacid,
              from: nextPeer(),
              to: number.displayPhoneNumber,
              event: 'connect',
              timestamp: String(Math.floor(Date.now() / 1000)),
              direction: 'USER_INITIATED',
              extra: 'DEEP',
            },
          ],
        });
        // JSON.parse takes 100k levels; JSON.stringify overflows long before.
        const body = JSON.stringify(payload).replace('"DEEP"', `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
        return { wacid, body, sig: signMetaBody(body, number.appSecret) };
      };
      const created = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'x-api-key': t.numberB.key.key },
        payload: { url: `${receiver.url}/raw-calls`, events: ['calls'] },
      });
      assert.equal(created.statusCode, 201, created.body);
      for (const number of [t.numberA, t.numberB]) {
        const { wacid, body, sig } = deepConnect(number);
        const res = await t.app.inject({
          method: 'POST',
          url: '/providers/meta/webhook',
          headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig },
          payload: body,
        });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal((await storedCall(t, number, wacid))?.status, 'RINGING');
      }
    });
  });

  // docs/spec/providers-meta.md §1.1 (both success forms) and §3.3/§5.4: extra keys at every level, no contacts[],
  // BSUIDs beside phone numbers, a title-case status. One lifecycle each way must run as with Meta's plain samples.
  describe(`Meta variants a real Graph and webhook may use [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, {
        fake: {
          shortSuccess: true,
          emitDefaults: { unknownFields: true, omitContacts: true, withBsuid: true, lowercaseStatus: true },
        },
      });
    });
    after(() => t.close());
    const act = (path: string, payload?: object) =>
      t.app.inject({
        method: 'POST',
        url: path,
        headers: { 'x-api-key': t.numberA.key.key },
        ...(payload ? { payload } : {}),
      });

    test('inbound: rings, pre-accepts, accepts, and the user hangs up; another is rejected', async () => {
      const call = await callIn(t, 'RINGING');
      assert.ok(call.peerNumber, 'the phone is kept');
      assert.ok(call.peerUserId, 'the BSUID is kept beside it');
      assert.equal((await act(`/v1/calls/${call.id}/pre-accept`, { sdp: CANNED_ANSWER_SDP })).statusCode, 200);
      assert.equal((await act(`/v1/calls/${call.id}/accept`, { sdp: CANNED_ANSWER_SDP })).json().status, 'ACCEPTED');
      await t.fake.userHangsUp(call.externalCallId);
      const ended = await untilStatus(t, t.numberA, call.id, 'COMPLETED');
      assert.equal(ended.endedBy, 'PEER');
      assert.equal(typeof ended.durationSeconds, 'number');
      const declined = await callIn(t, 'RINGING');
      assert.equal((await act(`/v1/calls/${declined.id}/reject`)).json().status, 'REJECTED');
      assert.deepEqual(t.fake.violations, []);
    });

    test('outbound: rings, the user answers, and our hang-up ends it', async () => {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      const started = await act('/v1/calls', { to: `+${peer}`, sdp: CANNED_OFFER_SDP });
      assert.equal(started.statusCode, 201, started.body);
      const { id, externalCallId } = started.json();
      await untilStatus(t, t.numberA, id, 'RINGING');
      await t.fake.userAnswers(externalCallId);
      await untilStatus(t, t.numberA, id, 'ACCEPTED');
      assert.equal((await act(`/v1/calls/${id}/terminate`)).json().status, 'COMPLETED');
      await t.fake.flush();
      const ended = await untilStatus(t, t.numberA, id, 'COMPLETED');
      assert.equal(ended.endedBy, 'BUSINESS');
      assert.ok(ended.sdpAnswer?.startsWith('v=0'), "Meta's answer SDP is kept");
      assert.deepEqual(t.fake.violations, []);
    });
  });
}
