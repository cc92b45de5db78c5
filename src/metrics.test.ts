// /metrics under a scripted scenario: a call rings, is answered and hung up, Meta fails once, a key runs into its
// rate limit, forged provider webhooks are refused, a delivery waits for its retry; each series says so.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { emitEvents, startTestWorker, type TestWorker, workerConfig } from '../test/e2e/webhook-helpers.ts';
import { signMetaBody } from '../test/fakes/meta-graph.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../test/fakes/webhook-receiver.ts';
import { buildTestApp, eventually, type TestApp } from '../test/helpers/build-test-app.ts';
import { callIn, ringingCall } from '../test/helpers/calls.ts';
import { sample } from '../test/helpers/prometheus.ts';
import { storeKinds } from '../test/helpers/stores.ts';
import { asStoreUnavailable } from './store/unavailable.ts';

for (const kind of storeKinds()) {
  describe(`GET /metrics [${kind}]`, () => {
    let t: TestApp;
    let receiver: WebhookReceiver;
    let worker: TestWorker;
    const TOKEN = 'metrics-token-123';

    before(async () => {
      t = await buildTestApp(kind, {
        env: {
          METRICS_TOKEN: TOKEN,
          WEBHOOK_ALLOW_INSECURE_URLS: 'true',
          RATE_LIMIT_PER_SECOND: '1',
          RATE_LIMIT_BURST: '30',
        },
      });
      receiver = await startWebhookReceiver();
      worker = startTestWorker(t.store.db, workerConfig({ webhookRetryScheduleMs: [0, 3_600_000] }));
    });
    after(async () => {
      await worker.stop();
      await receiver.close();
      await t.close();
    });

    const scrape = async () => {
      const res = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.statusCode, 200, res.body);
      return res.body;
    };
    const key = () => ({ 'x-api-key': t.numberA.key.key });

    test('METRICS_TOKEN: no or a wrong bearer token is 401 in the error envelope', async () => {
      const wrong = [
        {},
        { authorization: 'Bearer nope' },
        { authorization: TOKEN },
        // Same length as the right header, and the right header with more after it.
        { authorization: `Bearer ${'x'.repeat(TOKEN.length)}` },
        { authorization: `Bearer ${TOKEN}x` },
      ];
      for (const headers of wrong) {
        const res = await t.app.inject({ url: '/metrics', headers });
        assert.equal(res.statusCode, 401);
        assert.equal(res.json().code, 'UNAUTHORIZED');
        assert.match(String(res.headers['www-authenticate']), /^Bearer/);
      }
    });

    test('calls, provider requests, HTTP requests, rate limits, provider webhook rejections, backlog', async () => {
      // A call rings, another is answered and then hung up by the business; a third's hang-up fails at Meta.
      await ringingCall(t);
      const answered = await callIn(t, 'ACCEPTED');
      const ended = await t.app.inject({ method: 'POST', url: `/v1/calls/${answered.id}/terminate`, headers: key() });
      assert.equal(ended.statusCode, 200);
      const failing = await callIn(t, 'ACCEPTED');
      t.fake.inject({ action: 'terminate', times: 2, status: 503, error: { code: 2 } });
      const failed = await t.app.inject({ method: 'POST', url: `/v1/calls/${failing.id}/terminate`, headers: key() });
      assert.equal(failed.statusCode, 502);

      let body = await scrape();
      assert.equal(sample(body, 'callgate_calls_active{provider="META",status="RINGING"}'), 1);
      assert.equal(sample(body, 'callgate_calls_active{provider="META",status="ACCEPTED"}'), 1, 'the one Meta kept');
      assert.equal(sample(body, 'callgate_calls_ended_total{status="COMPLETED",ended_by="BUSINESS"}'), 1);
      assert.equal(sample(body, 'callgate_provider_requests_total{provider="META",action="accept",outcome="ok"}'), 2);
      assert.equal(sample(body, 'callgate_provider_requests_total{provider="META",action="endCall",outcome="ok"}'), 1);
      assert.equal(
        sample(body, 'callgate_provider_requests_total{provider="META",action="endCall",outcome="provider_down"}'),
        1,
      );
      assert.equal(
        sample(body, 'callgate_provider_request_duration_seconds_count{provider="META",action="endCall"}'),
        2,
      );
      assert.equal(
        sample(body, 'callgate_http_requests_total{route="/v1/calls/:callId/terminate",method="POST",status="502"}'),
        1,
      );
      assert.equal(
        sample(body, 'callgate_http_request_duration_seconds_count{route="/v1/calls/:callId/terminate",method="POST"}'),
        2,
      );
      assert.equal(sample(body, 'callgate_http_requests_total{route="/metrics",method="GET",status="200"}'), null);

      // The user hangs up the call Meta kept: ended by PEER, no longer active.
      await t.fake.userHangsUp(failing.externalCallId);
      await eventually(async () =>
        sample(await scrape(), 'callgate_calls_ended_total{status="COMPLETED",ended_by="PEER"}') === 1 ? true : null,
      );

      // Over the limit: 429s counted by bucket.
      let limited = 0;
      for (let i = 0; i < 40 && limited < 3; i++) {
        const res = await t.app.inject({ url: '/v1/calls?limit=1', headers: key() });
        limited += res.statusCode === 429 ? 1 : 0;
      }
      assert.equal(limited, 3);

      // Forged and unparseable provider webhooks.
      const forged = await t.app.inject({
        method: 'POST',
        url: '/providers/meta/webhook',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=00' },
        payload: '{"object":"whatsapp_business_account","entry":[]}',
      });
      assert.equal(forged.statusCode, 401);
      const garbage = await t.app.inject({
        method: 'POST',
        url: '/providers/meta/webhook',
        headers: {
          'content-type': 'application/json',
          'x-hub-signature-256': signMetaBody('{"entry": [', t.numberA.appSecret),
        },
        payload: '{"entry": [',
      });
      assert.equal(garbage.statusCode, 400);

      // A delivery that failed and waits an hour for its retry is backlog.
      const webhook = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'x-api-key': t.numberB.key.key },
        payload: { url: `${receiver.url}/down`, events: ['call.ringing'] },
      });
      assert.equal(webhook.statusCode, 201, webhook.body);
      receiver.setReply({ kind: 'status', status: 503 });
      await emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberB.id }, [{ type: 'call.ringing' }]);
      await receiver.waitFor((rs) => rs.length === 1, 5000, 'the failed attempt');

      body = await eventually(async () => {
        const b = await scrape();
        return sample(b, 'callgate_webhook_backlog_waiting_retries') === 1 ? b : null;
      });
      assert.equal(sample(body, 'callgate_rate_limited_total{rule="default"}'), 3);
      assert.equal(sample(body, 'callgate_provider_webhook_rejections_total{provider="meta",reason="signature"}'), 1);
      assert.equal(sample(body, 'callgate_provider_webhook_rejections_total{provider="meta",reason="parse"}'), 1);
      assert.equal(sample(body, 'callgate_webhook_backlog_size'), 1);
      assert.equal(sample(body, 'callgate_calls_active{provider="META",status="ACCEPTED"}'), null, 'none left');
      // The process's own series.
      assert.notEqual(sample(body, 'nodejs_eventloop_lag_seconds'), null);
      assert.notEqual(sample(body, 'process_resident_memory_bytes'), null);
      exposition = body;
    });

    let exposition = '';
    test('the shipped Grafana dashboard and alert rules use only series /metrics exposes', () => {
      assert.ok(exposition, 'scraped by the previous test');
      const dir = join(import.meta.dirname, '../docs/monitoring');
      const dashboard = JSON.parse(readFileSync(join(dir, 'grafana-dashboard.json'), 'utf8'));
      const alerts = parseYaml(readFileSync(join(dir, 'callgate-alerts.yml'), 'utf8'));
      const exprs = [
        ...dashboard.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr)),
        ...alerts.groups[0].rules.map((r: { expr: string }) => r.expr),
      ];
      const names = new Set(exprs.flatMap((e: string) => e.match(/\b(callgate|nodejs|process)_[a-z0-9_]+/g) ?? []));
      assert.ok(names.size >= 15, `dashboard and alerts use ${names.size} series`);
      for (const name of names) {
        const base = name.replace(/_(bucket|count|sum)$/, '');
        assert.match(exposition, new RegExp(`^# TYPE ${base} `, 'm'), `${name} is exposed`);
      }
      const scrape = parseYaml(readFileSync(join(dir, 'prometheus.yml'), 'utf8')).scrape_configs[0];
      assert.equal(scrape.metrics_path, '/metrics');
      assert.equal(scrape.authorization.type, 'Bearer');
    });
  });
}

describe('GET /metrics while the store cannot be read', () => {
  let t: TestApp;
  let storeDown = false;
  // What the PostgreSQL store throws once its server is gone.
  const refused = () =>
    Promise.reject(
      asStoreUnavailable(
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', syscall: 'connect' }),
      ),
    );

  before(async () => {
    t = await buildTestApp('sqlite', {
      wrapDb: (db) => ({
        dialect: db.dialect,
        query: (sql, params) => (storeDown ? refused() : db.query(sql, params)),
        execute: (sql, params, opts) => (storeDown ? refused() : db.execute(sql, params, opts)),
        transaction: (fn) => (storeDown ? refused() : db.transaction(fn)),
        close: () => db.close(),
      }),
    });
  });
  after(() => t.close());

  test('the process series are still served; the store gauges have no sample until it answers again', async () => {
    await ringingCall(t);
    storeDown = true;
    const failed = await t.app.inject({ url: '/v1/calls', headers: { 'x-api-key': t.numberA.key.key } });
    assert.equal(failed.statusCode, 503);
    const down = await t.app.inject({ url: '/metrics' });
    storeDown = false;
    assert.equal(down.statusCode, 200, down.body);
    // The outage itself is what the scrape must show: the 503s, and the process's own health.
    assert.match(down.body, /^callgate_http_requests_total\{[^}]*status="503"[^}]*\} 1$/m);
    assert.match(down.body, /^nodejs_eventloop_lag_p99_seconds /m);
    for (const series of ['callgate_webhook_backlog_size', 'callgate_webhook_backlog_oldest_age_seconds']) {
      assert.equal(sample(down.body, series), null, `${series}: no sample rather than a made-up 0`);
    }
    assert.doesNotMatch(down.body, /^callgate_calls_active\{/m);

    // The scrape's one backlog read is shared for a turn of the event loop, so the next may still see the outage.
    const up = await eventually(
      async () => {
        const res = await t.app.inject({ url: '/metrics' });
        return sample(res.body, 'callgate_webhook_backlog_size') === null ? null : res;
      },
      3000,
      'the store gauges back',
    );
    assert.equal(up.statusCode, 200);
    assert.equal(sample(up.body, 'callgate_webhook_backlog_size'), 0);
    assert.match(up.body, /^callgate_calls_active\{provider="META",status="RINGING"\} 1$/m);
  });
});
