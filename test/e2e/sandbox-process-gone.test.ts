// A process holding sandbox calls goes away (SIGTERM, or SIGKILL): a ringing call, one answered with the business's
// own SDP and one answered with server media. Their simulated users went with it, so the calls must not stay up:
// on PostgreSQL another process ends them (at once after a clean shutdown, after the heartbeat timeout after a
// kill), on SQLite the process's next run does at start. Each ends once, as the user's phone vanishing would.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { issueKey } from '../../src/auth/keys.ts';
import { type CallId, type NumberId, newTenantId } from '../../src/ids.ts';
import { AudioEndpoint } from '../../src/media/rtc/audio-endpoint.ts';
import { createPeerFactory, LOOPBACK_ICE } from '../../src/media/rtc/peer-factory.ts';
import { type Call, isTerminal } from '../../src/model/call.ts';
import { insertApiKey } from '../../src/store/api-keys.ts';
import { findCallForNumber } from '../../src/store/calls.ts';
import { insertTenant } from '../../src/store/tenants.ts';
import { eventually } from '../helpers/build-test-app.ts';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.ts';
import { listEventsForCall } from '../helpers/store-reads.ts';
import { createTestStore, storeKinds, type TestStore } from '../helpers/stores.ts';

const peers = createPeerFactory(LOOPBACK_ICE);

async function api(base: string, method: string, url: string, key: string, body?: object) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { 'x-api-key': key, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A tenant key on the store, as an operator's `tenants create` makes one. */
async function seedTenant(store: TestStore): Promise<string> {
  const tenantId = newTenantId();
  const now = new Date().toISOString();
  const issued = issueKey(tenantId, null, now);
  await insertTenant(store.db, { id: tenantId, name: 'Acme', createdAt: now });
  await insertApiKey(store.db, issued.record);
  return issued.key;
}

for (const kind of storeKinds()) {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`sandbox calls of a process stopped with ${signal} end once each (${kind})`, async () => {
      const store = await createTestStore(kind);
      const recordings = mkdtempSync(join(tmpdir(), 'callgate-recordings-'));
      const env = {
        ...store.env,
        MEDIA_PUBLIC_IP: '127.0.0.1',
        MEDIA_WARMUP: 'off',
        RECORDINGS_DIR: recordings,
      };
      const business = new AudioEndpoint(peers);
      const servers: ServerProcess[] = [];
      try {
        const tenantKey = await seedTenant(store);
        const a = await startServerProcess(env);
        servers.push(a);
        const created = await api(a.url, 'POST', '/v1/numbers', tenantKey, {
          provider: 'SANDBOX',
          name: 'Try it',
          sandbox: { answerAfterSeconds: 0 },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const numberId = created.body.number.id as NumberId;
        const key: string = created.body.apiKey.key;
        const ring = async (from: string): Promise<Call> => {
          const res = await api(a.url, 'POST', '/v1/sandbox/calls', key, { from });
          assert.equal(res.status, 201, JSON.stringify(res.body));
          return res.body.call;
        };

        const ringing = await ring('+15550000001');
        const withSdp = await ring('+15550000002');
        const offer = (await api(a.url, 'GET', `/v1/calls/${withSdp.id}?includeSdp=1`, key)).body.sdpOffer;
        const answer = await business.acceptOffer(offer);
        const accepted = await api(a.url, 'POST', `/v1/calls/${withSdp.id}/accept`, key, { sdp: answer });
        assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
        const withServerMedia = await ring('+15550000003');
        const served = await api(a.url, 'POST', `/v1/calls/${withServerMedia.id}/accept`, key, {});
        assert.equal(served.status, 200, JSON.stringify(served.body));

        // PostgreSQL: another process runs beside it. SQLite: one process at a time, restarted after.
        if (kind === 'postgres') {
          servers.push(await startServerProcess(env));
        }
        await a.stop(signal);
        if (kind === 'sqlite') {
          servers.push(await startServerProcess(env));
        }

        const stored = (id: string) => findCallForNumber(store.db, numberId, id);
        const ended = await eventually(
          async () => {
            const calls = await Promise.all([ringing, withSdp, withServerMedia].map((c) => stored(c.id)));
            return calls.every((c) => c && isTerminal(c.status)) && (calls as Call[]);
          },
          // Beyond the 10 s heartbeat timeout after a SIGKILL; far below the 90 s ring timeout.
          40_000,
          'the calls to end',
        );
        const [missed, dropped, mediaLost] = ended as [Call, Call, Call];
        // The caller's phone vanished before the answer: as the caller hanging up.
        assert.deepEqual([missed.status, missed.endedBy, missed.endReason], ['MISSED', 'PEER', null]);
        // An answered call whose far end vanished: Meta's media timeout, the time it was up kept.
        assert.deepEqual([dropped.status, dropped.endedBy, dropped.endReason], ['FAILED', 'SYSTEM', '138021']);
        assert.ok(dropped.connectedAt && typeof dropped.durationSeconds === 'number', JSON.stringify(dropped));
        // callgate's own media went with the process too: the server-media verdict, as for any such call.
        assert.deepEqual(
          [mediaLost.status, mediaLost.endedBy, mediaLost.endReason],
          ['FAILED', 'SYSTEM', 'media_lost'],
        );

        // Once no row says a gone process holds a user, nothing will end these calls again.
        await eventually(
          async () =>
            Number(
              (await store.db.query<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM sandbox_users'))[0]?.n,
            ) === 0,
          20_000,
          'the gone process’s users to be forgotten',
        );
        for (const call of [missed, dropped, mediaLost]) {
          const events = await listEventsForCall(store.db, call.id as CallId);
          assert.equal(events.filter((e) => e.type === 'call.ended').length, 1, `${call.id}: one call.ended`);
        }
        assert.equal((await listEventsForCall(store.db, missed.id)).filter((e) => e.type === 'call.missed').length, 1);
      } finally {
        await Promise.all(servers.map((s) => s.stop('SIGKILL')));
        await business.close();
        await store.dispose();
        rmSync(recordings, { recursive: true, force: true });
      }
    });
  }
}
