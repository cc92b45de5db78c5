// A full disk under PostgreSQL's data directory (a throwaway cluster on a real tmpfs, filled up): provider webhooks
// answer 503 with Retry-After, nothing answered 200 is lost, /readyz says not ready, and all recovers by itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../helpers/build-test-app.ts';
import { callIn, storedCall } from '../helpers/calls.ts';
import { type PgCluster, startPgCluster } from '../helpers/pg-cluster.ts';
import { missing } from '../helpers/requirements.ts';
import { listEventsForCall } from '../helpers/store-reads.ts';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.ts';
import { apiWrites, type Posted, postConnect, readyStatus } from './disk-full-helpers.ts';

const skip = missing('tmpfs', 'postgres');

describe('a full disk under PostgreSQL', { skip }, () => {
  let disk: Tmpfs;
  let cluster: PgCluster;
  let t: TestApp;
  before(async () => {
    disk = mountTmpfs(96, 'postgres');
    cluster = startPgCluster(disk.dir);
    t = await buildTestApp('postgres', { store: { postgresAdminUrl: cluster.url } });
  });
  after(async () => {
    await t?.close().catch(() => undefined);
    cluster?.stop();
    disk?.unmount();
  });

  test('inbound calls are refused with 503 + Retry-After, never 200-and-lost, and land once space returns', async () => {
    assert.equal((await readyStatus(t)).status, 200);
    const live = await callIn(t, 'ACCEPTED');
    disk.fill();

    const posted: Posted[] = [];
    for (let i = 0; i < 40; i++) {
      posted.push(await postConnect(t, `wacid.diskfull.pg.${i}`));
    }
    const log = () => readFileSync(join(disk.dir, 'server.log'), 'utf8').slice(-2000);
    assert.deepEqual(
      posted.filter((p) => p.status !== 200 && p.status !== 503),
      [],
      `every answer is 200 or 503\n${log()}`,
    );
    const refused = posted.filter((p) => p.status === 503);
    assert.ok(refused.length > 0, `the full disk refuses inbound calls\n${log()}`);
    for (const p of refused) {
      assert.equal(p.code, 'STORE_UNAVAILABLE');
      assert.ok(Number(p.retryAfter) > 0);
    }
    const acknowledged = posted.filter((x) => x.status === 200);
    assert.deepEqual((await readyStatus(t)).status, 503);

    // The API's own writes: done (what still fits in pages the store has), or 503 in the envelope; never 500.
    for (const answer of await apiWrites(t, live.id)) {
      assert.ok(answer.status < 300 || answer.code === 'STORE_UNAVAILABLE', JSON.stringify(answer));
    }

    disk.free();
    await eventually(async () => (await readyStatus(t)).status === 200, 30_000, '/readyz to recover');
    for (const p of acknowledged) {
      assert.ok(await storedCall(t, t.numberA, p.wacid), `acknowledged call ${p.wacid} is stored`);
    }
    for (const p of refused) {
      assert.equal((await postConnect(t, p.wacid)).status, 200);
    }
    for (const p of posted) {
      const call = await storedCall(t, t.numberA, p.wacid);
      assert.ok(call, `call ${p.wacid} is stored`);
      assert.deepEqual(
        (await listEventsForCall(t.store.db, call.id)).map((e) => e.type),
        ['call.ringing'],
      );
    }
  });
});
