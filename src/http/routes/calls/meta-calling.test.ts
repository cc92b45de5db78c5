// META-only features: pre-accept, settings, permissions, the permission reply event, and the timeline.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, nextPeer, outbox, ringingCall, storedCall } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`META calling features [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    const api = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': t.numberA.key.key }, ...(payload ? { payload } : {}) });

    test('pre-accept keeps the call ringing; accept without an SDP reuses it, as Meta requires', async () => {
      const call = await ringingCall(t);
      const pre = await api('POST', `/v1/calls/${call.id}/pre-accept`, { sdp: CANNED_ANSWER_SDP });
      assert.equal(pre.statusCode, 200, pre.body);
      assert.deepEqual(pre.json(), { success: true, id: call.id, status: 'RINGING' });
      assert.equal(t.fake.callState(call.externalCallId), 'PRE_ACCEPTED');
      // Meta takes one pre_accept per call: a repeat with the same answer is a 200 answered here, another a 409.
      const again = await api('POST', `/v1/calls/${call.id}/pre-accept`, { sdp: CANNED_ANSWER_SDP });
      assert.equal(again.statusCode, 200, again.body);
      assert.deepEqual(again.json(), { success: true, id: call.id, status: 'RINGING' });
      const other = await api('POST', `/v1/calls/${call.id}/pre-accept`, {
        sdp: CANNED_ANSWER_SDP.replace('o=-', 'o=other'),
      });
      assert.equal(other.statusCode, 409, other.body);
      assert.equal(other.json().code, 'CALL_STATE_CONFLICT');
      const accept = await api('POST', `/v1/calls/${call.id}/accept`, {});
      assert.equal(accept.statusCode, 200, accept.body);
      const sent = t.fake.requests.filter(
        (r) => r.body?.call_id === call.externalCallId && ['pre_accept', 'accept'].includes(r.body?.action),
      );
      assert.deepEqual(
        sent.map((r) => r.body.action),
        ['pre_accept', 'accept'],
      );
      assert.equal(sent[0]!.body.session.sdp, sent[1]!.body.session.sdp);
      assert.deepEqual(t.fake.violations, []);
      assert.deepEqual(
        (await outbox(t, call)).map((e) => e.type),
        ['call.ringing', 'call.connected'],
      );
    });

    test('an answer differing only in whitespace or line endings reaches Meta as the same SDP (accept = pre_accept)', async () => {
      // docs/spec/providers-meta.md §1.2: CRLF SDP, and accept's SDP must equal the pre_accept one. A trailing blank
      // line or trailing spaces, a leading newline, bare LF or CR are no part of the SDP.
      const variants = {
        'a trailing blank line': `${CANNED_ANSWER_SDP}\r\n`,
        'a trailing spaces-only line': `${CANNED_ANSWER_SDP}  \n`,
        'a leading newline': `\n${CANNED_ANSWER_SDP}`,
        'bare LF': CANNED_ANSWER_SDP.replaceAll('\r\n', '\n'),
        'bare CR': CANNED_ANSWER_SDP.replaceAll('\r\n', '\r'),
      };
      for (const [what, sdp] of Object.entries(variants)) {
        const call = await ringingCall(t);
        const pre = await api('POST', `/v1/calls/${call.id}/pre-accept`, { sdp });
        assert.equal(pre.statusCode, 200, `${what}: ${pre.body}`);
        // A retry written cleanly is the same answer: answered here, nothing more sent to Meta.
        const again = await api('POST', `/v1/calls/${call.id}/pre-accept`, { sdp: CANNED_ANSWER_SDP });
        assert.equal(again.statusCode, 200, `${what}: ${again.body}`);
        const accept = await api('POST', `/v1/calls/${call.id}/accept`, { sdp: CANNED_ANSWER_SDP });
        assert.equal(accept.statusCode, 200, `${what}: ${accept.body}`);
        const sent = t.fake.requests
          .filter((r) => r.body?.call_id === call.externalCallId && ['pre_accept', 'accept'].includes(r.body?.action))
          .map((r) => r.body.session.sdp);
        assert.deepEqual(sent, [CANNED_ANSWER_SDP, CANNED_ANSWER_SDP], what);
      }
      assert.deepEqual(t.fake.violations, []);
    });

    test('record:true where callgate would not hold the media (the business’s own SDP) is a 400, not ignored', async () => {
      const call = await ringingCall(t);
      const sent = () => t.fake.countRequests({ call_id: call.externalCallId });
      const before = sent();
      for (const [path, body] of [
        ['accept', { sdp: CANNED_ANSWER_SDP, record: true }],
        ['pre-accept', { sdp: CANNED_ANSWER_SDP, record: true }],
      ] as const) {
        const res = await api('POST', `/v1/calls/${call.id}/${path}`, body);
        assert.equal(res.statusCode, 400, `${path}: ${res.body}`);
        assert.equal(res.json().details.field, 'record');
      }
      assert.equal(sent(), before, 'nothing reached Meta');
      assert.equal((await api('POST', `/v1/calls/${call.id}/pre-accept`, { sdp: CANNED_ANSWER_SDP })).statusCode, 200);
      const later = await api('POST', `/v1/calls/${call.id}/accept`, { record: true });
      assert.equal(later.statusCode, 400, later.body);
      assert.match(later.json().details.reason, /own SDP/);
      assert.equal((await api('POST', `/v1/calls/${call.id}/accept`, {})).statusCode, 200);
      const placed = await api('POST', '/v1/calls', { to: `+${nextPeer()}`, sdp: CANNED_ANSWER_SDP, record: true });
      assert.equal(placed.statusCode, 400, placed.body);
      assert.equal(placed.json().details.field, 'record');
    });

    test('the timeline lists provider events and API actions in order', async () => {
      const call = await callIn(t, 'ACCEPTED');
      // Meta's end webhook is held until our terminate has answered: sent at once, it may be stored first.
      t.fake.setEmitDefaults({ hold: true });
      try {
        await api('POST', `/v1/calls/${call.id}/terminate`);
      } finally {
        t.fake.setEmitDefaults({});
      }
      await t.fake.releaseHeld();
      await t.fake.flush();
      const res = await api('GET', `/v1/calls/${encodeURIComponent(call.externalCallId)}/events`);
      assert.equal(res.statusCode, 200);
      const events = res.json().events as { sequence: number; source: string; type: string }[];
      assert.deepEqual(
        events.map((e) => `${e.source}:${e.type}`),
        ['provider:offer', 'api:accept', 'api:terminate', 'provider:end'],
      );
      assert.deepEqual(
        events.map((e) => e.sequence),
        [1, 2, 3, 4],
      );
      const other = await t.app.inject({
        url: `/v1/calls/${call.id}/events`,
        headers: { 'x-api-key': t.numberB.key.key },
      });
      assert.equal(other.statusCode, 404);
    });

    test("GET settings returns Meta's calling object; PUT sends Meta's exact shape", async () => {
      const got = await api('GET', '/v1/calls/settings');
      assert.equal(got.statusCode, 200, got.body);
      assert.equal(got.json().calling.status, 'ENABLED');
      const calling = {
        call_icon_visibility: 'DEFAULT',
        call_hours: {
          status: 'ENABLED',
          timezone_id: 'America/Sao_Paulo',
          weekly_operating_hours: [{ day_of_week: 'MONDAY', open_time: '0900', close_time: '1800' }],
        },
      };
      const put = await api('PUT', '/v1/calls/settings', { calling });
      assert.equal(put.statusCode, 200, put.body);
      const sent = t.fake.requests.filter((r) => r.edge === 'settings' && r.method === 'POST').at(-1)!;
      assert.deepEqual(sent.body, { calling }, 'the settings body is {calling} alone (providers-meta §1.4)');
      assert.deepEqual(put.json().calling.call_hours, calling.call_hours);
    });

    test('PUT settings with sip, or a malformed call_hours, → 400 and nothing sent', async () => {
      const before = t.fake.countRequests({ edge: 'settings' });
      for (const calling of [
        { sip: { status: 'ENABLED' } },
        {
          call_hours: {
            status: 'ENABLED',
            timezone_id: 'UTC',
            weekly_operating_hours: [{ day_of_week: 'MONDAY', open_time: '9am', close_time: '1800' }],
          },
        },
      ]) {
        const res = await api('PUT', '/v1/calls/settings', { calling });
        assert.equal(res.statusCode, 400, res.body);
      }
      assert.equal(t.fake.countRequests({ edge: 'settings' }), before);
    });

    test("permissions: the probe passes Meta's snake_case answer through", async () => {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      const res = await api('GET', `/v1/calls/permissions?to=%2B${peer}`);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().permission.status, 'temporary');
      assert.ok(Array.isArray(res.json().actions));
      const sent = t.fake.requests.filter((r) => r.edge.startsWith('call_permissions')).at(-1)!;
      assert.match(sent.path, new RegExp(`user_wa_id=${peer}`));
    });

    test("permission request → {messageId}; the user's reply becomes one call.permission_updated", async () => {
      const peer = nextPeer();
      const res = await api('POST', '/v1/calls/permissions/request', {
        to: `+${peer}`,
        text: 'May we call you about order ON-12853?',
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(res.json().messageId, /^wamid\./);
      const sent = t.fake.requests.filter((r) => r.edge === 'messages').at(-1)!;
      assert.equal(sent.body.interactive.type, 'call_permission_request');
      assert.equal(sent.body.to, peer);
      await t.fake.userRepliesToPermission(t.numberA.phoneNumberId, peer, 'accept', { permanent: true });
      await t.fake.flush();
      const rows = await eventually(async () => {
        const r = await t.store.db.query<{ payload: string }>(
          "SELECT payload FROM events WHERE type = 'call.permission_updated' AND number_id = $1",
          [t.numberA.id],
        );
        const mine = r.map((x) => JSON.parse(x.payload)).filter((p) => p.peerNumber === peer);
        return mine.length ? mine : null;
      });
      assert.equal(rows.length, 1);
      assert.equal(rows[0].status, 'PERMANENT');
      assert.match(rows[0].eventId, /^evt_/);
    });

    test('a second permission request within 24 h → 429 META_CALL_PERMISSION_REQUEST_LIMIT', async () => {
      const peer = nextPeer();
      assert.equal((await api('POST', '/v1/calls/permissions/request', { to: peer })).statusCode, 200);
      const again = await api('POST', '/v1/calls/permissions/request', { to: peer });
      assert.equal(again.statusCode, 429, again.body);
      assert.equal(again.json().code, 'META_CALL_PERMISSION_REQUEST_LIMIT');
      assert.equal(again.headers['retry-after'], '86400', 'one request per user a day');
    });

    test('an inbound call left ringing past the ring timeout is MISSED by SYSTEM (sweeper)', async () => {
      const quick = await buildTestApp(kind, {
        env: { RING_TIMEOUT_SECONDS: '1' },
        fake: { uicRingTimeoutMs: 60_000 },
      });
      try {
        const call = await ringingCall(quick);
        // Its start is Meta's whole-second stamp: only past the timeout plus that second has it surely rung 1 s.
        await new Promise((r) => setTimeout(r, 2100));
        const swept = await quick.sweeper.sweepOnce();
        assert.equal(swept.ringTimeouts, 1);
        const after = await storedCall(quick, quick.numberA, call.id);
        assert.equal(after?.status, 'MISSED');
        assert.equal(after?.endedBy, 'SYSTEM');
        assert.deepEqual(
          (await outbox(quick, call)).map((e) => e.type),
          ['call.ringing', 'call.missed', 'call.ended'],
        );
        assert.equal((await quick.sweeper.sweepOnce()).ringTimeouts, 0, 'a second sweep does nothing');
      } finally {
        await quick.close();
      }
    });
  });
}
