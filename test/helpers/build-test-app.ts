// A real app on loopback over a fresh store, a Meta fake wired both ways, and a seeded tenant
// with two META numbers (A and B) and their keys.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { buildAppWithSweeper } from '../../src/app.ts';
import { issueKey } from '../../src/auth/keys.ts';
import type { RecordingRetention } from '../../src/calls/recording-retention.ts';
import type { Sweeper } from '../../src/calls/sweeper.ts';
import { type Clock, systemClock } from '../../src/clock.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { schemaCompilers } from '../../src/http/plugins/validator.ts';
import type { App } from '../../src/http/types.ts';
import { type NumberId, newTenantId, type TenantId } from '../../src/ids.ts';
import { createLogger } from '../../src/logger.ts';
import type { Metrics } from '../../src/metrics.ts';
import { MemoryRateLimiter } from '../../src/ratelimit/memory.ts';
import { insertApiKey } from '../../src/store/api-keys.ts';
import type { Db, Dialect } from '../../src/store/db.ts';
import { insertTenant } from '../../src/store/tenants.ts';
import { type FakeMeta, type FakeMetaOptions, startFakeMeta } from '../fakes/meta-graph.ts';
import { createTestStore, TEST_SECRET_KEY, type TestStore, type TestStoreOptions } from './stores.ts';

export interface IssuedKey {
  id: string;
  key: string;
}
export interface TestNumber {
  id: NumberId;
  phoneNumberId: string;
  displayPhoneNumber: string;
  appSecret: string;
  verifyToken: string;
  key: IssuedKey;
}

export interface TestApp {
  app: App;
  /** The app's sweeper (on the app's own services); tests call sweepOnce() or pass runSweeper to loop it. */
  sweeper: Sweeper;
  /** The app's recording expiry (RECORDING_RETENTION_DAYS set), or null. */
  recordingRetention: RecordingRetention | null;
  /** Compiles the validators and serializers no request has needed yet (they compile on first use); how many. */
  compileSchemas(): number;
  baseUrl: string;
  store: TestStore;
  config: Config;
  fake: FakeMeta;
  tenantId: TenantId;
  tenantKey: IssuedKey;
  numberA: TestNumber;
  numberB: TestNumber;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  fake?: Partial<FakeMetaOptions>;
  clock?: Clock;
  /** A separate clock for rate-limit buckets, so tests can refill them without ageing calls. */
  rateLimitClock?: Clock;
  /** Run the sweeper loop (SWEEP_INTERVAL_MS) alongside the app, as the server process does. */
  runSweeper?: boolean;
  /** The app's logger (tests that read the logs pass one writing to memory); silent by default. */
  logger?: Logger;
  /** The app's metrics registry, to read counts directly; a fresh one by default. */
  metrics?: Metrics;
  /** Where the store lives (a tmpfs the test fills up, say); a fresh one by default. */
  store?: TestStoreOptions;
  /** Wraps the store the app uses (fault injection); the test's own `store.db` stays the plain one. */
  wrapDb?: (db: Db) => Db;
}

const META_NUMBERS = [
  {
    phoneNumberId: '110200345567891',
    displayPhoneNumber: '551140040000',
    wabaId: '102290129340398',
    accessToken: 'EAAG-token-a',
    appSecret: 'app-secret-a',
    verifyToken: 'vt_a',
  },
  {
    phoneNumberId: '110200345567892',
    displayPhoneNumber: '551140040001',
    wabaId: '102290129340399',
    accessToken: 'EAAG-token-b',
    appSecret: 'app-secret-b',
    verifyToken: 'vt_b',
  },
] as const;

export async function buildTestApp(kind: Dialect, opts: TestAppOptions = {}): Promise<TestApp> {
  const store = await createTestStore(kind, opts.store);
  const fake = await startFakeMeta({
    numbers: META_NUMBERS.map(({ verifyToken: _v, ...n }) => n),
    webhookRetryScheduleMs: [0, 20, 50],
    ...opts.fake,
  });
  const config = loadConfig({
    META_GRAPH_BASE_URL: fake.baseUrl,
    PROVIDER_TIMEOUT_MS: '400',
    RATE_LIMIT_PER_SECOND: '10000',
    RATE_LIMIT_BURST: '10000',
    TERMINATE_RATE_LIMIT_PER_SECOND: '10000',
    TERMINATE_RATE_LIMIT_BURST: '10000',
    // Server media stays on 127.0.0.1 in every test, and so does sandbox media with it (SANDBOX_MEDIA_ADDRESSES
    // follows a loopback MEDIA_PUBLIC_IP); recordings go to a fresh temporary folder.
    MEDIA_PUBLIC_IP: '127.0.0.1',
    // The start's loopback warm-up call costs ~0.3 s of CPU per app; the tests that need it turn it on.
    MEDIA_WARMUP: 'off',
    // Admission by pacing would make an accept's answer depend on how loaded the test machine is; its test turns it on.
    MEDIA_MAX_LATE_PERCENT: '0',
    RECORDINGS_DIR: mkdtempSync(join(tmpdir(), 'callgate-recordings-')),
    ...store.env,
    ...opts.env,
  });
  const clock = opts.clock ?? systemClock;
  const compilers = schemaCompilers();
  const { app, sweeper, recordingRetention } = await buildAppWithSweeper({
    config,
    db: opts.wrapDb ? opts.wrapDb(store.db) : store.db,
    secretKey: TEST_SECRET_KEY,
    clock,
    logger: opts.logger ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    rateLimiter: new MemoryRateLimiter(() => (opts.rateLimitClock ?? clock).now().getTime()),
    schemaCompilers: compilers,
  });
  if (opts.runSweeper) {
    sweeper.start();
  }
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  fake.setWebhookUrl(`${address}/providers/meta/webhook`);

  const tenantId = newTenantId();
  const tenant = issueKey(tenantId, null, new Date().toISOString());
  await insertTenant(store.db, { id: tenantId, name: 'Acme', createdAt: new Date().toISOString() });
  await insertApiKey(store.db, tenant.record);
  const tenantKey = { id: tenant.id, key: tenant.key };

  const numbers: TestNumber[] = [];
  for (const [i, n] of META_NUMBERS.entries()) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/numbers',
      headers: { 'x-api-key': tenantKey.key },
      payload: {
        name: `Number ${i}`,
        phoneNumber: `+${n.displayPhoneNumber}`,
        provider: 'META',
        meta: {
          phoneNumberId: n.phoneNumberId,
          wabaId: n.wabaId,
          accessToken: n.accessToken,
          appSecret: n.appSecret,
          verifyToken: n.verifyToken,
        },
      },
    });
    if (res.statusCode !== 201) {
      throw new Error(`seeding number failed: ${res.statusCode} ${res.body}`);
    }
    const body = res.json();
    numbers.push({
      id: body.number.id,
      phoneNumberId: n.phoneNumberId,
      displayPhoneNumber: n.displayPhoneNumber,
      appSecret: n.appSecret,
      verifyToken: n.verifyToken,
      key: body.apiKey,
    });
  }

  return {
    app,
    sweeper,
    recordingRetention,
    compileSchemas: compilers.compileAll,
    baseUrl: address,
    store,
    config,
    fake,
    tenantId,
    tenantKey,
    numberA: numbers[0]!,
    numberB: numbers[1]!,
    async close() {
      await fake.close();
      await sweeper.stop();
      await app.close();
      await store.dispose();
    },
  };
}

/**
 * Polls until check() returns a value (not undefined/null/false) or the time runs out. The default only bounds how
 * long a failing test waits: a slow or busy machine needs more than a few seconds to finish a recording or start a
 * process, so a wait whose length means something passes its own `ms`.
 */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  ms = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
