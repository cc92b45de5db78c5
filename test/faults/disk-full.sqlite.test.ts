// A full disk under the embedded store (a real tmpfs, filled up): provider webhooks answer 503 with Retry-After so
// the provider retries, nothing answered 200 is lost, /readyz says not ready, and everything recovers by itself
// once space returns. Without root (no tmpfs mount), the store is capped at its current size with SQLite's
// max_page_count instead: the same SQLITE_FULL from the same write paths, so the suite never skips.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../helpers/build-test-app.ts';
import { callIn, storedCall } from '../helpers/calls.ts';
import { missing } from '../helpers/requirements.ts';
import { listEventsForCall } from '../helpers/store-reads.ts';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.ts';
import { apiWrites, type Posted, postConnect, readyStatus } from './disk-full-helpers.ts';

/** Demanded only when CALLGATE_TEST_REQUIRE names tmpfs; otherwise the reason the page cap stands in. */
const noTmpfs = missing('tmpfs');

/** Something that fills up and frees again under the store. */
interface FullDisk {
  fill(): Promise<void>;
  free(): Promise<void>;
}

/** SQLite refuses to grow the database past max_page_count with SQLITE_FULL, as it does on a full disk. */
function pageCap(t: TestApp): FullDisk {
  return {
    async fill() {
      const [row] = await t.store.db.query<{ page_count: number }>('PRAGMA page_count');
      await t.store.db.execute(`PRAGMA max_page_count = ${Number(row?.page_count)}`);
    },
    async free() {
      await t.store.db.execute('PRAGMA max_page_count = 1073741823');
    },
  };
}

describe(`a full disk under the embedded store (${noTmpfs ? 'max_page_count' : 'tmpfs'})`, () => {
  let tmpfs: Tmpfs | undefined;
  let disk: FullDisk;
  let t: TestApp;
  before(async () => {
    if (noTmpfs) {
      t = await buildTestApp('sqlite');
      disk = pageCap(t);
    } else {
      const mounted = mountTmpfs(24);
      tmpfs = mounted;
      t = await buildTestApp('sqlite', { store: { sqliteDir: mounted.dir } });
      disk = {
        fill: async () => mounted.fill(),
        free: async () => mounted.free(),
      };
    }
  });
  after(async () => {
    await t?.close();
    tmpfs?.unmount();
  });

  test('inbound calls are refused with 503 + Retry-After, never 200-and-lost, and land once space returns', async () => {
    assert.equal((await readyStatus(t)).status, 200);
    const live = await callIn(t, 'ACCEPTED');
    await disk.fill();

    const posted: Posted[] = [];
    for (let i = 0; i < 40; i++) {
      posted.push(await postConnect(t, `wacid.diskfull.sqlite.${i}`));
    }
    assert.deepEqual(
      posted.filter((p) => p.status !== 200 && p.status !== 503),
      [],
      'every answer is 200 or 503',
    );
    const refused = posted.filter((p) => p.status === 503);
    assert.ok(refused.length > 0, 'the full disk refuses inbound calls');
    for (const p of refused) {
      assert.equal(p.code, 'STORE_UNAVAILABLE');
      assert.ok(Number(p.retryAfter) > 0, 'Retry-After tells the provider when to retry');
    }
    // Whatever was acknowledged is stored, with its call.ringing.
    for (const p of posted.filter((x) => x.status === 200)) {
      const call = await storedCall(t, t.numberA, p.wacid);
      assert.ok(call, `acknowledged call ${p.wacid} is stored`);
    }
    assert.deepEqual(await readyStatus(t), { status: 503, code: 'STORE_UNAVAILABLE' });

    // The API's own writes: done (what still fits in pages the store has), or 503 in the envelope; never 500.
    for (const answer of await apiWrites(t, live.id)) {
      assert.ok(answer.status < 300 || answer.code === 'STORE_UNAVAILABLE', JSON.stringify(answer));
    }

    await disk.free();
    await eventually(async () => (await readyStatus(t)).status === 200, 10_000, '/readyz to recover');
    // Meta retries what it was refused: every call lands, once.
    for (const p of refused) {
      assert.equal((await postConnect(t, p.wacid)).status, 200);
    }
    for (const p of posted) {
      const call = await storedCall(t, t.numberA, p.wacid);
      assert.ok(call, `call ${p.wacid} is stored`);
      assert.equal(call.status, 'RINGING');
      assert.deepEqual(
        (await listEventsForCall(t.store.db, call.id)).map((e) => e.type),
        ['call.ringing'],
      );
    }
  });
});
