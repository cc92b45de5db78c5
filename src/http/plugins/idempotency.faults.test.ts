// An Idempotency-Key whose request failed because the store went away (503 STORE_UNAVAILABLE, "retrying is safe"):
// the store was gone for the key's own bookkeeping too. Once it is back, the client's retry with that key must run,
// not be told for a minute that the failed request is still in progress.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { buildTestApp, eventually, type TestApp } from '../../../test/helpers/build-test-app.ts';
import { nextPeer } from '../../../test/helpers/calls.ts';
import { storeKinds } from '../../../test/helpers/stores.ts';
import type { Db } from '../../store/db.ts';

/** A store that refuses the writes matching `pattern` while `down` is set, as a full disk or lost database would. */
function flakyWrites(inner: Db, state: { down: RegExp | null }): Db {
  const refuse = (sql: string) => state.down?.test(sql) === true;
  const full = () => Object.assign(new Error('database or disk is full'), { code: 'ERR_SQLITE_ERROR', errcode: 13 });
  const wrap = (db: Db): Db => ({
    dialect: db.dialect,
    query: (sql, params) => db.query(sql, params),
    execute: (sql, params, opts) => (refuse(sql) ? Promise.reject(full()) : db.execute(sql, params, opts)),
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    close: () => db.close(),
  });
  return wrap(inner);
}

/** The request sent again until its key is no longer in progress (the background write has landed). */
function untilNotInProgress(send: () => Promise<LightMyRequestResponse>, what: string) {
  return eventually(
    async () => {
      const r = await send();
      return r.statusCode === 409 && r.json().code === 'IDEMPOTENCY_IN_PROGRESS' ? null : r;
    },
    5000,
    what,
  );
}

for (const kind of storeKinds()) {
  describe(`Idempotency-Key when the store fails mid-request [${kind}]`, () => {
    let t: TestApp;
    const state: { down: RegExp | null } = { down: null };
    before(async () => {
      t = await buildTestApp(kind, {
        env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' },
        wrapDb: (inner) => flakyWrites(inner, state),
      });
    });
    after(() => t.close());

    const create = () =>
      t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'x-api-key': t.numberA.key.key, 'idempotency-key': 'k-store-down' },
        payload: { url: 'http://127.0.0.1:9/hooks', events: ['call.ended'] },
      });

    test('a 503 whose key could not be released: the retry once the store is back runs and succeeds', async () => {
      // The key is taken, then the store goes: the webhook's insert and the key's release both fail.
      state.down = /INSERT INTO webhooks|DELETE FROM idempotency_keys|UPDATE idempotency_keys/;
      const first = await create();
      assert.equal(first.statusCode, 503, first.body);
      assert.equal(first.json().code, 'STORE_UNAVAILABLE');
      state.down = null;

      const retry = await untilNotInProgress(create, 'the key to be released');
      assert.equal(retry.statusCode, 201, retry.body);
    });

    test('a call stored whose answer then failed: the retry answers with that call, it places no second one', async () => {
      const peer = nextPeer();
      t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
      const place = () =>
        t.app.inject({
          method: 'POST',
          url: '/v1/calls',
          headers: { 'x-api-key': t.numberA.key.key, 'idempotency-key': `k-placed-${peer}` },
          // No SDP: the engine makes the offer, and holds its media once the call is stored.
          payload: { to: `+${peer}` },
        });
      // The call and its key's answer commit together; the store then refuses the media row written after.
      state.down = /INSERT INTO call_media/;
      const first = await place();
      state.down = null;
      assert.equal(first.statusCode, 503, first.body);
      const stored = await t.store.db.query<{ id: string }>('SELECT id FROM calls WHERE peer_number = $1', [peer]);
      assert.equal(stored.length, 1, 'the call was stored, and rings at Meta');

      const retry = await untilNotInProgress(place, 'the key to be released');
      assert.equal(retry.statusCode, 201, retry.body);
      assert.equal(retry.json().id, stored[0]?.id);
      assert.equal(
        t.fake.requests.filter((r) => r.body?.action === 'connect' && r.body?.to === peer).length,
        1,
        'the user is not called twice',
      );
    });

    test('a permission request Meta sent whose answer the store refused: 200 all the same, replayed once back', async () => {
      const peer = nextPeer();
      const ask = () =>
        t.app.inject({
          method: 'POST',
          url: '/v1/calls/permissions/request',
          headers: { 'x-api-key': t.numberA.key.key, 'idempotency-key': `k-sent-${peer}` },
          payload: { to: `+${peer}` },
        });
      state.down = /UPDATE idempotency_keys/;
      const first = await ask();
      state.down = null;
      // The message is out: an error would have the client ask again, and the user get a second message.
      assert.equal(first.statusCode, 200, first.body);
      const retry = await untilNotInProgress(ask, 'the answer to be written');
      assert.equal(retry.statusCode, 200, retry.body);
      assert.deepEqual(retry.json(), first.json());
      assert.equal(t.fake.requests.filter((r) => r.edge === 'messages' && r.body?.to === peer).length, 1);
    });
  });
}
