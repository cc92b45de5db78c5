// Several API processes on one PostgreSQL and one Redis: shared rate limits, graceful shutdown.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../helpers/build-test-app.ts';
import { callIn, storedCall } from '../helpers/calls.ts';
import { assertRedisAnswers } from '../helpers/redis.ts';
import { missing } from '../helpers/requirements.ts';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.ts';

const redisUrl = process.env.TEST_REDIS_URL ?? '';

describe('scale-out: two API processes, PostgreSQL and Redis', { skip: missing('postgres', 'redis') }, () => {
  let t: TestApp;
  let servers: ServerProcess[] = [];
  before(async () => {
    await assertRedisAnswers(redisUrl);
    t = await buildTestApp('postgres');
    const env = {
      ...t.store.env,
      META_GRAPH_BASE_URL: t.fake.baseUrl,
      WORKERS: 'off',
      REDIS_URL: redisUrl,
      RATE_LIMIT_PER_SECOND: '1',
      RATE_LIMIT_BURST: '10',
      TERMINATE_RATE_LIMIT_PER_SECOND: '1000',
      TERMINATE_RATE_LIMIT_BURST: '1000',
    };
    servers = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await t.close();
  });

  test('rate limits are shared: two processes do not grant twice the burst', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`${servers[i % 2]!.url}/v1/calls?limit=1`, { headers: { 'x-api-key': t.numberB.key.key } }).then(
          (r) => r.status,
        ),
      ),
    );
    const allowed = statuses.filter((s) => s === 200).length;
    assert.ok(allowed >= 10 && allowed <= 12, `${allowed} allowed of 40 with a shared burst of 10`);
    assert.equal(statuses.filter((s) => s === 429).length, 40 - allowed);
  });

  test('SIGTERM: the in-flight terminate finishes with 200, then the process exits cleanly', async () => {
    const call = await callIn(t, 'ACCEPTED');
    t.fake.inject({ action: 'terminate', latencyMs: 600 });
    const victim = servers[1]!;
    const inFlight = fetch(`${victim.url}/v1/calls/${call.id}/terminate`, {
      method: 'POST',
      headers: { 'x-api-key': t.numberA.key.key },
    });
    // SIGTERM once the hang-up is at Meta (held 600 ms there), not after a guess at how long it takes to get there.
    await eventually(
      async () => t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }) === 1,
      10_000,
      'the hang-up to reach Meta',
    );
    const exited = victim.stop('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal((await res.json()).status, 'COMPLETED');
    assert.equal(await exited, 0, 'exit code 0');
    assert.equal((await storedCall(t, t.numberA, call.id))?.status, 'COMPLETED');
    await assert.rejects(fetch(`${victim.url}/healthz`), 'no longer accepting connections');
  });
});
