// The inbound lifecycle through the API: list, get (id or wacid, SDPs on request), accept, reject.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, outbox, ringingCall, storedCall } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`calls API [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    const get = (url: string, key = t.numberA.key.key) => t.app.inject({ url, headers: { 'x-api-key': key } });
    const post = (url: string, payload?: object, key = t.numberA.key.key) =>
      t.app.inject({ method: 'POST', url, headers: { 'x-api-key': key }, ...(payload ? { payload } : {}) });

    test('a ringing call is visible by id and by wacid, SDPs only with includeSdp=1', async () => {
      const call = await ringingCall(t);
      const byId = await get(`/v1/calls/${call.id}`);
      assert.equal(byId.statusCode, 200);
      const body = byId.json();
      assert.equal(body.status, 'RINGING');
      assert.equal(body.direction, 'INBOUND');
      assert.match(body.peerNumber, /^\d+$/);
      assert.equal(body.sdpOffer, undefined);
      for (const hidden of ['eventSeq', 'pendingAction', 'tenantId']) {
        assert.equal(body[hidden], undefined);
      }
      const byWacid = await get(`/v1/calls/${encodeURIComponent(call.externalCallId)}?includeSdp=1`);
      assert.equal(byWacid.json().id, call.id);
      assert.match(byWacid.json().sdpOffer, /^v=0\r\n/);
      assert.equal(byWacid.json().sdpAnswer, null);
    });

    test("another number's call is 404, by id and by wacid", async () => {
      const call = await ringingCall(t);
      for (const id of [call.id, call.externalCallId]) {
        const res = await get(`/v1/calls/${encodeURIComponent(id)}`, t.numberB.key.key);
        assert.equal(res.statusCode, 404);
        assert.equal(res.json().code, 'CALL_NOT_FOUND');
      }
    });

    test('list is newest first, limited, paged with before, and has no SDPs', async () => {
      for (let i = 0; i < 3; i++) {
        await ringingCall(t, t.numberB);
      }
      const page1 = await get('/v1/calls?limit=2', t.numberB.key.key);
      assert.equal(page1.statusCode, 200);
      const calls = page1.json().calls;
      assert.equal(calls.length, 2);
      assert.ok(calls[0].createdAt >= calls[1].createdAt);
      assert.equal(calls[0].sdpOffer, undefined);
      const page2 = await get(
        `/v1/calls?limit=100&before=${encodeURIComponent(calls[1].createdAt)}`,
        t.numberB.key.key,
      );
      const rest = page2.json().calls;
      assert.ok(rest.length >= 1);
      assert.ok(rest.every((c: { createdAt: string }) => c.createdAt < calls[1].createdAt));
      assert.ok(rest.every((c: { numberId: string }) => c.numberId === t.numberB.id));
    });

    test('before= with digits past the millisecond keeps a call created in that millisecond', async () => {
      const call = await ringingCall(t, t.numberB);
      const ms = call.createdAt.slice(0, -1); // …ss.mmm
      const ids = async (before: string) =>
        (await get(`/v1/calls?limit=100&before=${encodeURIComponent(before)}`, t.numberB.key.key))
          .json()
          .calls.map((c: { id: string }) => c.id);
      assert.ok((await ids(`${ms}1Z`)).includes(call.id), 'created strictly before .mmm1');
      assert.ok((await ids(`${ms}000001Z`)).includes(call.id), 'created strictly before .mmm000001');
      assert.ok(!(await ids(`${ms}000Z`)).includes(call.id), 'not strictly before its own instant');
      assert.ok(!(await ids(call.createdAt)).includes(call.id));
    });

    test('before= at the end of year 9999 lists every call, however it is written', async () => {
      const call = await ringingCall(t, t.numberB);
      // Each is an instant past 9999-12-31T23:59:59.999Z, whose ISO form has a six-digit year no store compares.
      for (const before of ['9999-12-31T23:59:59.9999Z', '9999-12-31T23:59:59.999-01:00']) {
        const res = await get(`/v1/calls?limit=100&before=${encodeURIComponent(before)}`, t.numberB.key.key);
        assert.equal(res.statusCode, 200, `${before}: ${res.body}`);
        assert.ok(
          res.json().calls.some((c: { id: string }) => c.id === call.id),
          `${before} lists a call created before it`,
        );
      }
    });

    test('paging with before=<call id> never skips calls created in the same millisecond', async () => {
      const { insertCall } = await import('../../../store/calls.ts');
      const template = await ringingCall(t, t.numberB);
      const sameMs = '2026-01-01T00:00:00.000Z';
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = `call_01JD3Q5Z7Y8X9W0V1T2S3R4Q${String(i).padStart(2, '0')}`;
        ids.push(id);
        await insertCall(t.store.db, {
          ...template,
          id: id as typeof template.id,
          externalCallId: `wacid.same${i}`,
          createdAt: sameMs,
          updatedAt: sameMs,
        });
      }
      const seen: string[] = [];
      let before = `before=${encodeURIComponent('2026-01-01T00:00:00.001Z')}`;
      for (;;) {
        const page = (await get(`/v1/calls?limit=2&${before}`, t.numberB.key.key)).json().calls as { id: string }[];
        if (page.length === 0) {
          break;
        }
        seen.push(...page.map((c) => c.id));
        before = `before=${page.at(-1)!.id}`;
      }
      assert.deepEqual(seen, [...ids].reverse());
      const foreign = await get(`/v1/calls?before=${template.id}`, t.numberA.key.key);
      assert.equal(foreign.statusCode, 400, "another number's call id is no cursor");
    });

    test('accept sends the SDP answer to Meta and records call.connected', async () => {
      const call = await ringingCall(t);
      const res = await post(`/v1/calls/${call.id}/accept`, { sdp: CANNED_ANSWER_SDP.replace(/\r\n/g, '\n') });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'ACCEPTED' });
      const sent = t.fake.requests.find((r) => r.body?.action === 'accept' && r.body?.call_id === call.externalCallId);
      assert.equal(sent?.body.session.sdp_type, 'answer');
      assert.match(sent?.body.session.sdp, /\r\n/, 'sent with CRLF line endings');
      assert.doesNotMatch(sent?.body.session.sdp.replace(/\r\n/g, ''), /\n/);
      assert.deepEqual(
        (await outbox(t, call)).map((e) => e.type),
        ['call.ringing', 'call.connected'],
      );
      assert.deepEqual(t.fake.violations, []);
    });

    test('reject declines a ringing call: REJECTED by BUSINESS, one call.ended', async () => {
      const call = await ringingCall(t);
      const res = await post(`/v1/calls/${call.id}/reject`);
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'REJECTED' });
      assert.equal(t.fake.countRequests({ action: 'reject', call_id: call.externalCallId }), 1);
      const stored = await storedCall(t, t.numberA, call.id);
      assert.equal(stored?.endedBy, 'BUSINESS');
      assert.deepEqual(
        (await outbox(t, call)).map((e) => e.type),
        ['call.ringing', 'call.ended'],
      );
    });

    for (const state of ['ACCEPTED', 'COMPLETED', 'MISSED'] as const) {
      test(`accept and reject on a ${state} call → 409 CALL_STATE_CONFLICT with the status, nothing sent`, async () => {
        const call = await callIn(t, state);
        const sentBefore = t.fake.requests.length;
        for (const action of ['accept', 'reject']) {
          const res = await post(
            `/v1/calls/${call.id}/${action}`,
            action === 'accept' ? { sdp: CANNED_ANSWER_SDP } : undefined,
          );
          assert.equal(res.statusCode, 409);
          assert.equal(res.json().code, 'CALL_STATE_CONFLICT');
          assert.equal(res.json().details.status, state);
        }
        assert.equal(t.fake.requests.length, sentBefore);
      });
    }

    test('reject after the caller gave up (Meta: already ended) → 409 and the call is recorded MISSED', async () => {
      const call = await ringingCall(t);
      await t.fake.userHangsUp(call.externalCallId, { hold: true });
      const res = await post(`/v1/calls/${call.id}/reject`);
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().details.status, 'MISSED');
      const stored = await storedCall(t, t.numberA, call.id);
      assert.equal(stored?.status, 'MISSED');
      await t.fake.releaseHeld();
      await t.fake.flush();
      assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
    });

    test('Meta refusing an accept for lack of permission → 403 META_CALL_PERMISSION_REQUIRED, call still ringing', async () => {
      const call = await ringingCall(t);
      t.fake.inject({
        action: 'accept',
        status: 401,
        error: { code: 138006, message: '(#138006) No approved call permission found' },
      });
      const res = await post(`/v1/calls/${call.id}/accept`, { sdp: CANNED_ANSWER_SDP });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().code, 'META_CALL_PERMISSION_REQUIRED');
      assert.equal((await storedCall(t, t.numberA, call.id))?.status, 'RINGING');
    });
  });
}
