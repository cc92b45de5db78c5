// kill -9 of API and worker processes in the middle of hang-ups and deliveries, 20 rounds: no call left
// inconsistent, no double end, every acknowledged terminate persisted, Meta's view and ours agree in the end,
// and every committed call.ended reaches the customer's webhook.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Call } from '../../src/model/call.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { buildTestApp, eventually, type TestApp } from '../helpers/build-test-app.ts';
import { acceptedCall, outbox, storedCall } from '../helpers/calls.ts';
import { missing } from '../helpers/requirements.ts';
import { type ServerProcess, startServerProcess, startWorkerProcess } from '../helpers/server-process.ts';

const ROUNDS = 20;
const PER_ROUND = 8;

describe('kill -9 of API and worker processes under load (PostgreSQL)', { skip: missing('postgres') }, () => {
  let t: TestApp;
  const servers: ServerProcess[] = [];
  let worker: ServerProcess;
  let receiver: WebhookReceiver;
  let env: Record<string, string>;
  before(async () => {
    // Meta's webhooks reach the in-process app, which is never killed; the children serve the hang-ups,
    // and a `callgate worker` child delivers the customer's webhooks.
    t = await buildTestApp('postgres', {
      fake: { webhookRetryScheduleMs: [0, 50, 200, 500, 1000] },
      env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' },
    });
    receiver = await startWebhookReceiver();
    const hook = await t.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: { 'x-api-key': t.numberA.key.key },
      payload: { url: receiver.url, events: ['call.ended'] },
    });
    assert.equal(hook.statusCode, 201, hook.body);
    env = {
      ...t.store.env,
      META_GRAPH_BASE_URL: t.fake.baseUrl,
      WORKERS: 'off',
      // Meta's fake answers in 20-120 ms from this (busy) process: the deadline leaves the survivors room, or a late
      // answer would be a 502 the test does not allow.
      PROVIDER_TIMEOUT_MS: '1000',
      WEBHOOK_ALLOW_INSECURE_URLS: 'true',
      WEBHOOK_RETRY_SCHEDULE_MS: '0,100,200,400,800,1000,1000,1000,1000,1000',
      WEBHOOK_TIMEOUT_MS: '1000',
      RATE_LIMIT_PER_SECOND: '100000',
      RATE_LIMIT_BURST: '100000',
      TERMINATE_RATE_LIMIT_PER_SECOND: '100000',
      TERMINATE_RATE_LIMIT_BURST: '100000',
    };
    servers.push(await startServerProcess(env), await startServerProcess(env));
    worker = await startWorkerProcess(env);
  });
  after(async () => {
    await Promise.all([...servers, worker].map((s) => s.stop('SIGKILL')));
    await receiver.close();
    await t.close();
  });

  test(`${ROUNDS} rounds of kill -9 during terminates and deliveries`, async () => {
    const calls: Call[] = [];
    for (let i = 0; i < ROUNDS * PER_ROUND; i += 20) {
      calls.push(
        ...(await Promise.all(Array.from({ length: Math.min(20, ROUNDS * PER_ROUND - i) }, () => acceptedCall(t)))),
      );
    }
    const acknowledged = new Set<string>();
    for (let round = 0; round < ROUNDS; round++) {
      const batch = calls.slice(round * PER_ROUND, (round + 1) * PER_ROUND);
      t.fake.inject({ action: 'terminate', latencyMs: [20, 120], times: PER_ROUND * 2 });
      const victim = Math.floor(Math.random() * servers.length);
      const requests = batch.map((c, i) =>
        fetch(`${servers[i % 2]!.url}/v1/calls/${c.id}/terminate`, {
          method: 'POST',
          headers: { 'x-api-key': t.numberA.key.key },
        }).then(
          async (r) => {
            if (r.status === 200) {
              acknowledged.add(c.id);
            }
            return r.status;
          },
          () => -1,
        ),
      );
      await new Promise((r) => setTimeout(r, Math.random() * 100));
      servers[victim]!.child.kill('SIGKILL');
      // Every other round the delivery worker dies too, in the middle of sending the call.ended events.
      if (round % 2 === 1) {
        worker.child.kill('SIGKILL');
      }
      const statuses = await Promise.all(requests);
      assert.ok(
        statuses.every((s) => s === 200 || s === -1),
        `only 200s or dropped connections: ${statuses}`,
      );
      servers[victim] = await startServerProcess(env);
      if (round % 2 === 1) {
        worker = await startWorkerProcess(env);
      }
    }

    // Let Meta's webhooks land; a hang-up below on a slot a killed process left waits out its lease (3 × 1 s + 10 s).
    await t.fake.flush();
    await new Promise((r) => setTimeout(r, 6000));
    // Whatever is still active can be hung up now, through a survivor.
    for (const c of calls) {
      const current = await storedCall(t, t.numberA, c.id);
      if (current?.status === 'ACCEPTED') {
        const res = await fetch(`${servers[0]!.url}/v1/calls/${c.id}/terminate`, {
          method: 'POST',
          headers: { 'x-api-key': t.numberA.key.key },
        });
        assert.equal(res.status, 200, await res.text());
      }
    }
    await t.fake.flush();

    for (const c of calls) {
      const final = await eventually(
        async () => {
          const s = await storedCall(t, t.numberA, c.id);
          return s && s.status !== 'ACCEPTED' ? s : null;
        },
        3000,
        `call ${c.id} to end`,
      );
      const ended = (await outbox(t, final)).filter((e) => e.type === 'call.ended');
      assert.equal(ended.length, 1, `exactly one call.ended for ${c.id}`);
      assert.equal(final.status, 'COMPLETED');
      assert.equal(t.fake.callState(c.externalCallId), 'ENDED', 'Meta agrees the call is over');
      assert.ok(t.fake.countRequests({ action: 'terminate', call_id: c.externalCallId }) >= 1);
      if (acknowledged.has(c.id)) {
        assert.ok(final.endedAt, 'an acknowledged terminate is persisted');
      }
    }
    assert.deepEqual(t.fake.violations, []);

    // Every committed call.ended reaches the receiver at least once; duplicates carry the same webhook-id.
    const expected = new Map<string, string>();
    for (const c of calls) {
      const ended = (await outbox(t, c)).find((e) => e.type === 'call.ended')!;
      expected.set(ended.id, c.id);
    }
    await receiver.waitFor(
      (reqs) => [...expected.keys()].every((id) => reqs.some((r) => r.headers['webhook-id'] === id)),
      20_000,
      'every call.ended delivered',
    );
    for (const r of receiver.requests) {
      const id = String(r.headers['webhook-id']);
      if (expected.has(id)) {
        assert.equal(r.body.id, expected.get(id), 'the same webhook-id always carries the same event');
      }
    }
    const pending = await t.store.db.query<{ n: number }>(
      "SELECT CAST(COUNT(*) AS INTEGER) AS n FROM deliveries WHERE status = 'PENDING'",
    );
    assert.equal(Number(pending[0]!.n), 0, 'nothing left pending');
  });
});
