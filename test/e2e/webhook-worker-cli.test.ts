// Scaled out: the API runs with WORKERS=off and `callgate worker` processes deliver; SIGTERM stops a worker cleanly.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
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

const ROOT = join(import.meta.dirname, '../..');
const META = {
  phoneNumberId: '110200345567898',
  displayPhoneNumber: '551140049998',
  wabaId: '102290129340998',
  accessToken: 'EAAG-cli',
  appSecret: 'app-secret-cli',
};

function startWorkerProcess(env: Record<string, string>): {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'worker'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start: ${out}`)), 15_000);
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('callgate webhook worker ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, ready, exited };
}

for (const kind of storeKinds()) {
  describe(`callgate worker [${kind}]`, () => {
    let store: TestStore;
    let fake: FakeMeta;
    let receiver: WebhookReceiver;
    let server: ServerProcess;
    let env: Record<string, string>;

    before(async () => {
      store = await createTestStore(kind);
      fake = await startFakeMeta({ numbers: [META], webhookRetryScheduleMs: [0, 50] });
      receiver = await startWebhookReceiver();
      env = {
        ...store.env,
        META_GRAPH_BASE_URL: fake.baseUrl,
        WEBHOOK_ALLOW_INSECURE_URLS: 'true',
        WEBHOOK_RETRY_SCHEDULE_MS: '0,50,100',
      };
      server = await startServerProcess({ ...env, WORKERS: 'off' });
      fake.setWebhookUrl(`${server.url}/providers/meta/webhook`);
    });
    after(async () => {
      await server.stop();
      await fake.close();
      await receiver.close();
      await store.dispose();
    });

    test('with WORKERS=off the API sends nothing; a worker process delivers, and exits 0 on SIGTERM', async () => {
      const tenantId = newTenantId();
      const now = new Date().toISOString();
      const tenantKey = issueKey(tenantId, null, now);
      await insertTenant(store.db, { id: tenantId, name: 'Scaled', createdAt: now });
      await insertApiKey(store.db, tenantKey.record);
      const post = async (path: string, key: string, payload: unknown) => {
        const res = await fetch(`${server.url}${path}`, {
          method: 'POST',
          headers: { 'x-api-key': key, 'content-type': 'application/json' },
          body: JSON.stringify(payload),
        });
        assert.equal(res.status, 201);
        return res.json();
      };
      const number = await post('/v1/numbers', tenantKey.key, {
        name: 'Scaled',
        phoneNumber: `+${META.displayPhoneNumber}`,
        provider: 'META',
        meta: {
          phoneNumberId: META.phoneNumberId,
          accessToken: META.accessToken,
          appSecret: META.appSecret,
          verifyToken: 'vt',
        },
      });
      const webhook = await post('/v1/webhooks', number.apiKey.key, { url: receiver.url, events: ['call.ringing'] });

      await fake.incomingCall({ phoneNumberId: META.phoneNumberId, from: '5511988887777' });
      await sleep(300);
      assert.equal(receiver.requests.length, 0, 'the API process does not deliver with WORKERS=off');

      const worker = startWorkerProcess(env);
      await worker.ready;
      await receiver.waitFor((rs) => rs.length === 1, 5000, 'the worker to deliver');
      assert.equal(verifyWith(webhook.secret, receiver.requests[0]!).event, 'call.ringing');

      worker.child.kill('SIGTERM');
      const code = await Promise.race([worker.exited, sleep(5000).then(() => 'still running')]);
      assert.equal(code, 0);
    });
  });
}
