// Two processes sweeping one PostgreSQL: an overlong call is terminated through Meta exactly once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_OFFER_SDP } from '../fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../helpers/build-test-app.ts';
import { nextPeer, outbox, storedCall, untilStatus } from '../helpers/calls.ts';
import { missing } from '../helpers/requirements.ts';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.ts';

describe('sweeper in two processes sharing PostgreSQL', { skip: missing('postgres') }, () => {
  let t: TestApp;
  let servers: ServerProcess[] = [];
  before(async () => {
    t = await buildTestApp('postgres');
    const env = {
      ...t.store.env,
      META_GRAPH_BASE_URL: t.fake.baseUrl,
      WORKERS: 'in-process',
      SWEEP_INTERVAL_MS: '20',
      RING_TIMEOUT_SECONDS: '600',
    };
    servers = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await t.close();
  });

  test('maxDurationSeconds: 1 → one terminate at Meta, one call.ended, endedBy SYSTEM', async () => {
    const peer = nextPeer();
    t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
    t.fake.inject({ action: 'terminate', latencyMs: 100, times: 5 });
    const res = await fetch(`${servers[0]!.url}/v1/calls`, {
      method: 'POST',
      headers: { 'x-api-key': t.numberA.key.key, 'content-type': 'application/json' },
      body: JSON.stringify({ to: peer, sdp: CANNED_OFFER_SDP, maxDurationSeconds: 1 }),
    });
    assert.equal(res.status, 201);
    const { id, externalCallId } = await res.json();
    await eventually(async () => (await storedCall(t, t.numberA, id))?.status === 'RINGING');
    await t.fake.userAnswers(externalCallId);
    const done = await untilStatus(t, t.numberA, id, 'COMPLETED', 6000);
    assert.equal(done.endedBy, 'SYSTEM');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(t.fake.countRequests({ action: 'terminate', call_id: externalCallId }), 1);
    assert.equal((await outbox(t, done)).filter((e) => e.type === 'call.ended').length, 1);
  });
});
