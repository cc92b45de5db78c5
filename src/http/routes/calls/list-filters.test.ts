// GET /v1/calls?status=&peer=: the server narrows the list (the dashboard's search asks it), scoped to the number.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, ringingCall } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`list calls with filters [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    const ids = async (query: string): Promise<string[]> => {
      const res = await t.app.inject({ url: `/v1/calls?${query}`, headers: { 'x-api-key': t.numberA.key.key } });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().calls.map((c: { id: string }) => c.id);
    };

    test('status and peer narrow the list, together and across pages, never to another number', async () => {
      const completed = await callIn(t, 'COMPLETED');
      const ringing = await ringingCall(t, t.numberA, '447700900123');
      const elsewhere = await ringingCall(t, t.numberB, '447700900123');

      assert.deepEqual(await ids('peer=0900123'), [ringing.id]);
      assert.deepEqual(await ids('peer=%2B447700900123'), [ringing.id], 'a leading + is ignored');
      assert.deepEqual(await ids(`peer=${completed.peerNumber}`), [completed.id]);
      assert.deepEqual(await ids('peer=99999999'), []);
      assert.deepEqual(await ids('status=RINGING'), [ringing.id]);
      assert.deepEqual(await ids('status=COMPLETED'), [completed.id]);
      assert.deepEqual(await ids('status=RINGING,COMPLETED'), [ringing.id, completed.id]);
      assert.deepEqual(await ids('status=MISSED'), []);
      assert.deepEqual(await ids('status=COMPLETED&peer=0900123'), []);
      assert.deepEqual(await ids('status=RINGING&peer=0900123'), [ringing.id]);
      assert.ok(!(await ids('peer=0900123')).includes(elsewhere.id), "another number's call stays out");

      // Paging keeps the filter: the second page starts after the first call shown.
      assert.deepEqual(await ids('status=RINGING,COMPLETED&limit=1'), [ringing.id]);
      assert.deepEqual(await ids(`status=RINGING,COMPLETED&limit=1&before=${ringing.id}`), [completed.id]);
    });

    test("a + left unencoded (read as a space) in peer= or in before='s offset is taken as the + it was", async () => {
      const older = await ringingCall(t, t.numberA, '447700900777');
      await setTimeout(5); // not the same millisecond: before=<newer's time> then leaves the older one
      const newer = await ringingCall(t, t.numberA, '447700900777');
      assert.deepEqual(await ids('peer=+447700900777'), [newer.id, older.id]);
      // The newer call's creation time written with a +01:00 offset, the + unencoded as Pilot's examples write it.
      const at = new Date(Date.parse(newer.createdAt) + 3_600_000).toISOString().replace('Z', '+01:00');
      assert.deepEqual(await ids(`peer=447700900777&before=${at}`), [older.id]);
      assert.deepEqual(await ids(`peer=447700900777&before=${encodeURIComponent(at)}`), [older.id]);
      for (const query of ['before=2026-12-03T10:00:00 1', 'before= 2026-12-03T10:00:00Z', 'peer=+ 4477']) {
        const res = await t.app.inject({ url: `/v1/calls?${query}`, headers: { 'x-api-key': t.numberA.key.key } });
        assert.equal(res.statusCode, 400, query);
      }
    });

    test('a malformed filter is a 400 in the error envelope', async () => {
      for (const query of [
        'status=ringing',
        'status=RINGING,',
        'status=RINGING;DROP',
        'peer=12a',
        'peer=%25',
        'peer=',
        'before=2016-12-31T23:59:60Z', // a leap second: valid date-time, no JavaScript Date
      ]) {
        const res = await t.app.inject({ url: `/v1/calls?${query}`, headers: { 'x-api-key': t.numberA.key.key } });
        assert.equal(res.statusCode, 400, query);
        const body = res.json();
        assert.equal(body.code, 'VALIDATION_ERROR', query);
        assert.match(body.requestId, /\S/, query);
      }
    });

    test('a before earlier than year 1 (PostgreSQL has no year 0) is an empty page, not a 500', async () => {
      await ringingCall(t, t.numberA);
      for (const before of ['0000-01-01T00:00:00Z', '0000-12-31T23:59:59.999Z', '0001-01-01T00:00:00%2B05:00']) {
        assert.deepEqual(await ids(`before=${before}`), [], before);
      }
      assert.deepEqual(await ids('before=0001-01-01T00:00:00Z'), [], 'year 1 itself still reads the store');
    });
  });
}
