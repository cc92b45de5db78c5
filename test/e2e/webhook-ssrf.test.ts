// SSRF: without WEBHOOK_ALLOW_INSECURE_URLS a webhook can only point at https:// on a public address,
// checked at registration (by name and by DNS) and again when the worker connects (DNS rebinding).
// Redirects are covered in webhook-delivery.test.ts (a failed attempt, never followed).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { systemClock } from '../../src/clock.ts';
import type { App } from '../../src/http/types.ts';
import type { WebhookId } from '../../src/ids.ts';
import { createLogger } from '../../src/logger.ts';
import { MemoryRateLimiter } from '../../src/ratelimit/memory.ts';
import type { HostLookup } from '../../src/webhooks/url-guard.ts';
import { startWebhookReceiver } from '../fakes/webhook-receiver.ts';
import { buildTestApp, eventually, type TestApp } from '../helpers/build-test-app.ts';
import { listDeliveriesForWebhook } from '../helpers/store-reads.ts';
import { storeKinds, TEST_SECRET_KEY } from '../helpers/stores.ts';
import { emitEvents, startTestWorker, workerConfig } from './webhook-helpers.ts';

const PUBLIC = '93.184.216.34';
/** A fake DNS: what each name resolves to right now. */
const dns = new Map<string, string[]>([
  ['hooks.example.com', [PUBLIC]],
  ['internal.example.com', ['10.0.0.7']],
  ['mixed.example.com', [PUBLIC, '192.168.1.20']],
  ['metadata.example.com', ['169.254.169.254']],
  ['v6-loopback.example.com', ['::1']],
  ['rebind.example.com', [PUBLIC]],
]);
const lookup: HostLookup = async (host) => {
  const answers = dns.get(host);
  if (!answers) {
    throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  }
  return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

for (const kind of storeKinds()) {
  describe(`webhook URL guard [${kind}]`, () => {
    let t: TestApp;
    let app: App;

    before(async () => {
      t = await buildTestApp(kind);
      // The same store and keys, served by an app whose DNS the test controls.
      app = await buildApp({
        config: { ...t.config, webhookAllowInsecureUrls: false },
        db: t.store.db,
        secretKey: TEST_SECRET_KEY,
        clock: systemClock,
        logger: createLogger('silent'),
        rateLimiter: new MemoryRateLimiter(),
        webhookHostLookup: lookup,
      });
    });
    after(async () => {
      await app.close();
      await t.close();
    });

    const register = (url: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { url, events: ['*'] },
      });

    /** The webhook's one delivery, once it has failed. */
    const failedDelivery = async (webhookId: WebhookId) => {
      const [delivery] = await eventually(
        async () => {
          const ds = await listDeliveriesForWebhook(t.store.db, webhookId);
          return ds[0]?.status === 'FAILED' ? ds : null;
        },
        3000,
        'the delivery to fail',
      );
      return delivery!;
    };

    const refused: [string, RegExp][] = [
      ['http://127.0.0.1/hook', /must use https/],
      ['https://127.0.0.1/hook', /non-public address/],
      ['http://169.254.169.254/latest/meta-data/', /must use https/],
      ['https://169.254.169.254/latest/meta-data/', /non-public address/],
      ['http://[::1]/hook', /must use https/],
      ['https://[::1]:8443/hook', /non-public address/],
      ['https://[::ffff:127.0.0.1]/hook', /non-public address/],
      ['https://2130706433/hook', /non-public address/],
      ['https://localhost/hook', /localhost/],
      ['https://internal.example.com/hook', /does not resolve to a public address/],
      ['https://mixed.example.com/hook', /does not resolve to a public address/],
      ['https://metadata.example.com/hook', /does not resolve to a public address/],
      ['https://v6-loopback.example.com/hook', /does not resolve to a public address/],
      ['https://nowhere.example.com/hook', /does not resolve to a public address/],
      ['https://user:pass@hooks.example.com/hook', /credentials/],
    ];
    for (const [url, reason] of refused) {
      test(`registering ${url} is refused with 400 and a reason`, async () => {
        const res = await register(url);
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
        assert.match(res.json().details.reason, reason);
        if (!url.includes('user:pass')) {
          // A newcomer's first receiver is local: the refusal says how the server can allow it.
          assert.match(res.json().details.reason, /WEBHOOK_ALLOW_INSECURE_URLS=true/);
        }
        assert.ok(
          !res.body.includes('10.0.0.7') && !res.body.includes('192.168.1.20'),
          'the reason never names a resolved address',
        );
      });
    }

    test('https to a name resolving to public addresses only is accepted; PATCH to a private one is refused', async () => {
      const res = await register('https://hooks.example.com/callgate');
      assert.equal(res.statusCode, 201, res.body);
      const patch = await app.inject({
        method: 'PATCH',
        url: `/v1/webhooks/${res.json().id}`,
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { url: 'https://internal.example.com/x' },
      });
      assert.equal(patch.statusCode, 400);
      assert.match(patch.json().details.reason, /does not resolve to a public address/);
      await app.inject({
        method: 'DELETE',
        url: `/v1/webhooks/${res.json().id}`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
    });

    test('a stored URL with a literal private address (insecure URLs since turned off) is refused at delivery', async () => {
      const receiver = await startWebhookReceiver();
      const res = await register('https://hooks.example.com/literal');
      assert.equal(res.statusCode, 201, res.body);
      const webhookId = res.json().id as WebhookId;
      // As registered while WEBHOOK_ALLOW_INSECURE_URLS=true; a literal address never goes through the DNS lookup.
      await t.store.db.execute('UPDATE webhooks SET url = $1 WHERE id = $2', [receiver.url, webhookId]);
      const worker = startTestWorker(
        t.store.db,
        workerConfig({ webhookAllowInsecureUrls: false, webhookRetryScheduleMs: [0] }),
        { lookup },
      );
      try {
        await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [{ type: 'call.ended' }]);
        const delivery = await failedDelivery(webhookId);
        assert.match(delivery.lastError ?? '', /^refused: /);
        assert.equal(delivery.lastStatusCode, null);
        assert.equal(receiver.requests.length, 0, 'no request reached the private address');
      } finally {
        await worker.stop();
        await receiver.close();
        await app.inject({
          method: 'DELETE',
          url: `/v1/webhooks/${webhookId}`,
          headers: { 'x-api-key': t.numberA.key.key },
        });
      }
    });

    test('a name that turns private after registration (DNS rebinding) is refused when the worker connects', async () => {
      dns.set('rebind.example.com', [PUBLIC]);
      const res = await register('https://rebind.example.com/hook');
      assert.equal(res.statusCode, 201, res.body);
      const webhookId = res.json().id as WebhookId;
      dns.set('rebind.example.com', ['127.0.0.1']);
      const worker = startTestWorker(
        t.store.db,
        workerConfig({ webhookAllowInsecureUrls: false, webhookRetryScheduleMs: [0] }),
        { lookup },
      );
      await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [{ type: 'call.ended' }]);
      const delivery = await failedDelivery(webhookId);
      assert.match(delivery.lastError ?? '', /refused/);
      assert.equal(delivery.lastStatusCode, null);
      await worker.stop();
      await app.inject({
        method: 'DELETE',
        url: `/v1/webhooks/${webhookId}`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
    });
  });
}
