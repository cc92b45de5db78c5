// Nothing committed is lost: the real server runs as a child process and is killed with SIGKILL at random
// points while it delivers webhooks, ten times, and restarted. Every event it committed reaches the
// receiver at least once (a duplicate carries the same webhook-id and body), and nothing stays pending.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issueKey } from '../../src/auth/keys.ts';
import { newTenantId } from '../../src/ids.ts';
import { insertApiKey } from '../../src/store/api-keys.ts';
import { insertTenant } from '../../src/store/tenants.ts';
import { type FakeMeta, startFakeMeta } from '../fakes/meta-graph.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.ts';
import { createTestStore, storeKinds, type TestStore } from '../helpers/stores.ts';
import { sleep, verifyWith } from './webhook-helpers.ts';

const KILLS = 10;
const META = {
  phoneNumberId: '110200345567899',
  displayPhoneNumber: '551140049999',
  wabaId: '102290129340999',
  accessToken: 'EAAG-crash',
  appSecret: 'app-secret-crash',
};

for (const kind of storeKinds()) {
  describe(`webhooks survive kill -9 [${kind}]`, () => {
    let store: TestStore;
    let fake: FakeMeta;
    let receiver: WebhookReceiver;
    let server: ServerProcess | null = null;
    let env: Record<string, string>;

    before(async () => {
      store = await createTestStore(kind);
      fake = await startFakeMeta({ numbers: [META], webhookRetryScheduleMs: [0, 50, 150] });
      receiver = await startWebhookReceiver();
      receiver.slow(25); // deliveries take a while, so kills land in the middle of them
      env = {
        ...store.env,
        META_GRAPH_BASE_URL: fake.baseUrl,
        WEBHOOK_ALLOW_INSECURE_URLS: 'true',
        // A short schedule with enough attempts that a dead server between tries never exhausts it.
        WEBHOOK_RETRY_SCHEDULE_MS: '0,50,100,200,400,800,1000,1000,1000,1000,1000,1000',
        WEBHOOK_TIMEOUT_MS: '500',
      };
    });
    after(async () => {
      await server?.stop('SIGKILL');
      await fake.close();
      await receiver.close();
      await store.dispose();
    });

    async function start(): Promise<ServerProcess> {
      const s = await startServerProcess(env);
      fake.setWebhookUrl(`${s.url}/providers/meta/webhook`);
      return s;
    }

    test(`${KILLS} kills during delivery lose no committed event`, { timeout: 60_000 }, async (t) => {
      const tenantId = newTenantId();
      const now = new Date().toISOString();
      const tenantKey = issueKey(tenantId, null, now);
      await insertTenant(store.db, { id: tenantId, name: 'Crash Co', createdAt: now });
      await insertApiKey(store.db, tenantKey.record);

      server = await start();
      const post = async (path: string, key: string, payload: unknown) => {
        const res = await fetch(`${server!.url}${path}`, {
          method: 'POST',
          headers: { 'x-api-key': key, 'content-type': 'application/json' },
          body: JSON.stringify(payload),
        });
        const body = await res.json();
        assert.equal(res.status, 201, JSON.stringify(body));
        return body;
      };
      const number = await post('/v1/numbers', tenantKey.key, {
        name: 'Crash',
        phoneNumber: `+${META.displayPhoneNumber}`,
        provider: 'META',
        meta: {
          phoneNumberId: META.phoneNumberId,
          wabaId: META.wabaId,
          accessToken: META.accessToken,
          appSecret: META.appSecret,
          verifyToken: 'vt',
        },
      });
      const webhook = await post('/v1/webhooks', number.apiKey.key, { url: receiver.url, events: ['*'] });

      let peer = 0;
      const ringing: string[] = [];
      for (let round = 0; round < KILLS; round++) {
        // Events committed by the live server: two new calls ring, an earlier one is missed (call.missed + call.ended).
        for (let i = 0; i < 2; i++) {
          ringing.push(
            await fake.incomingCall({
              phoneNumberId: META.phoneNumberId,
              from: `55119${String(++peer).padStart(8, '0')}`,
            }),
          );
        }
        const missed = ringing.shift();
        if (missed && round % 2 === 1) {
          await fake.userHangsUp(missed);
        }
        await sleep(Math.floor(Math.random() * 120));
        await server.stop('SIGKILL');
        server = await start();
      }

      const events = await store.db.query<{ id: string }>('SELECT id FROM events WHERE number_id = $1', [
        number.number.id,
      ]);
      assert.ok(events.length >= 2 * KILLS, `events were committed (${events.length})`);
      const received = () => new Set(receiver.requests.map((r) => r.headers['webhook-id']));
      await receiver.waitFor(
        () => events.every((e) => received().has(e.id)),
        30_000,
        'every committed event at the receiver',
      );
      const pending = async () =>
        (
          await store.db.query<{ n: number | string }>("SELECT COUNT(*) AS n FROM deliveries WHERE status <> 'SUCCESS'")
        )[0]!.n;
      const deadline = Date.now() + 10_000;
      while (Number(await pending()) > 0 && Date.now() < deadline) {
        await sleep(50);
      }
      assert.equal(Number(await pending()), 0, 'no delivery left pending or failed');

      const byId = new Map<string, string[]>();
      for (const r of receiver.requests) {
        const id = String(r.headers['webhook-id']);
        const body = verifyWith(webhook.secret, r);
        assert.equal(body.eventId, id, 'webhook-id is the eventId');
        byId.set(id, [...(byId.get(id) ?? []), r.rawBody]);
      }
      for (const [id, bodies] of byId) {
        assert.ok(
          bodies.every((b) => b === bodies[0]),
          `duplicates of ${id} are the same delivery`,
        );
      }
      assert.deepEqual(new Set(byId.keys()), new Set(events.map((e) => e.id)), 'nothing but committed events was sent');
      const duplicates = receiver.requests.length - byId.size;
      t.diagnostic(
        `${kind}: ${events.length} events, ${receiver.requests.length} requests, ${duplicates} duplicates after ${KILLS} kills`,
      );
    });
  });
}
