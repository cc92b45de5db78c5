// Settings outside the media engine's own (media-config.test.ts): defaults, and values refused with the variable named.
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import { ConfigError, loadConfig } from './config.ts';
import { DEFAULT_RETRY_SCHEDULE_MS } from './webhooks/retry-schedule.ts';

test("webhook delivery defaults are the spec's: a 10 s timeout, the ~3-day schedule, https to public addresses only", () => {
  const config = loadConfig({});
  assert.equal(config.webhookTimeoutMs, 10_000);
  assert.deepEqual(config.webhookRetryScheduleMs, DEFAULT_RETRY_SCHEDULE_MS);
  assert.equal(config.webhookAllowInsecureUrls, false);
  assert.deepEqual(loadConfig({ WEBHOOK_RETRY_SCHEDULE_MS: '0,100,200' }).webhookRetryScheduleMs, [0, 100, 200]);
  assert.equal(loadConfig({ WEBHOOK_ALLOW_INSECURE_URLS: 'true' }).webhookAllowInsecureUrls, true);
});

test('WEBHOOK_LOG_RETENTION_DAYS: 30 by default, 0 keeps the log forever, at most a century', () => {
  assert.equal(loadConfig({}).webhookLogRetentionDays, 30);
  assert.equal(loadConfig({ WEBHOOK_LOG_RETENTION_DAYS: '0' }).webhookLogRetentionDays, 0);
  assert.equal(loadConfig({ WEBHOOK_LOG_RETENTION_DAYS: '36500' }).webhookLogRetentionDays, 36_500);
  for (const bad of ['36501', '-1', '7.5', 'a month']) {
    assert.throws(
      () => loadConfig({ WEBHOOK_LOG_RETENTION_DAYS: bad }),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message === `WEBHOOK_LOG_RETENTION_DAYS must be an integer from 0 to 36500, got "${bad}"`,
    );
  }
});

test('SANDBOX_MEDIA_ADDRESSES: every interface by default, and loopback too when the media engine is on it', () => {
  assert.deepEqual(loadConfig({}).sandboxMediaAddresses, []);
  const interfaces = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i?.family === 'IPv4' && !i.internal)
    .map((i) => i?.address);
  assert.deepEqual(loadConfig({ MEDIA_PUBLIC_IP: '127.0.0.1' }).sandboxMediaAddresses, ['127.0.0.1', ...interfaces]);
  assert.deepEqual(loadConfig({ MEDIA_PUBLIC_IP: '203.0.113.7' }).sandboxMediaAddresses, []);
  assert.deepEqual(
    loadConfig({ MEDIA_PUBLIC_IP: '127.0.0.1', SANDBOX_MEDIA_ADDRESSES: '10.0.0.5' }).sandboxMediaAddresses,
    ['10.0.0.5'],
    'what is set wins',
  );
});

test('META_GRAPH_VERSION: v23.0 by default; a malformed one, or one older than calling (v17.0), is refused', () => {
  assert.equal(loadConfig({}).metaGraphVersion, 'v23.0');
  assert.equal(loadConfig({ META_GRAPH_VERSION: 'v17.0' }).metaGraphVersion, 'v17.0');
  assert.equal(loadConfig({ META_GRAPH_VERSION: 'v25.0' }).metaGraphVersion, 'v25.0');
  for (const bad of ['23.0', 'v23', 'v16.0', 'v9.0']) {
    assert.throws(
      () => loadConfig({ META_GRAPH_VERSION: bad }),
      (err: Error) => err instanceof ConfigError && err.message.startsWith('META_GRAPH_VERSION must'),
      bad,
    );
  }
});
