// Processes on one PostgreSQL on hosts whose clocks disagree: each reads the time as the database's, so a host
// whose clock is 30 s ahead does not take the other processes' fresh heartbeats for dead ones.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestApp } from '../helpers/build-test-app.ts';
import { callIn, storedCall } from '../helpers/calls.ts';
import { missing } from '../helpers/requirements.ts';
import { startServerProcess } from '../helpers/server-process.ts';

const SKEWED = join(import.meta.dirname, '../helpers/skewed-clock.mjs');
const OTHER_NODE = 'other-host:1:c10c4e';

describe('a process on a host whose clock is 30 s ahead (PostgreSQL)', { skip: missing('postgres') }, () => {
  test('leaves the calls of a process that is still beating alone, and ends them once it stops', async () => {
    const t = await buildTestApp('postgres');
    const beat = () =>
      t.store.db.execute(
        `INSERT INTO media_nodes (node, heartbeat_at) VALUES ($1, $2)
          ON CONFLICT (node) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
        [OTHER_NODE, new Date().toISOString()],
      );
    // Another process holds the call's media and beats every second, on this host's (and the database's) time.
    await beat();
    const beating = setInterval(() => void beat().catch(() => undefined), 1000);
    const skewed = await startServerProcess({
      ...t.store.env,
      META_GRAPH_BASE_URL: t.fake.baseUrl,
      WORKERS: 'off',
      NODE_OPTIONS: `--import ${SKEWED}`,
      CALLGATE_TEST_CLOCK_SKEW_MS: '30000',
    });
    try {
      const warning = skewed.logs.find((l) => l.includes('more than a second off the database’s'));
      assert.ok(warning, `the skewed process says its clock is off:\n${skewed.logs.join('\n')}`);
      assert.ok(Math.abs(JSON.parse(warning).offsetMs + 30_000) < 500, warning);

      const call = await callIn(t, 'ACCEPTED');
      await t.store.db.execute(
        `INSERT INTO call_media (call_id, number_id, media, media_node, created_at, updated_at)
          VALUES ($1, $2, 'server', $3, $4, $4)`,
        [call.id, t.numberA.id, OTHER_NODE, new Date().toISOString()],
      );
      // The skewed process looks for lost media every 2 s; a heartbeat is stale after 10 s.
      await sleep(5000);
      const live = await storedCall(t, t.numberA, call.id);
      assert.equal(live?.status, 'ACCEPTED', `the call is ${live?.status} (${live?.endReason})`);
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 0);

      clearInterval(beating);
      const deadline = Date.now() + 20_000;
      let ended = await storedCall(t, t.numberA, call.id);
      while (ended?.status === 'ACCEPTED' && Date.now() < deadline) {
        await sleep(250);
        ended = await storedCall(t, t.numberA, call.id);
      }
      assert.equal(ended?.status, 'FAILED');
      assert.equal(ended?.endReason, 'media_lost');
    } finally {
      clearInterval(beating);
      await skewed.stop();
      await t.close();
    }
  });
});
