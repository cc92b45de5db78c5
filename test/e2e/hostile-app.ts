// The fuzz and security suites' app: like buildTestApp, plus a second tenant (with number X) to attack
// across, a logger whose output the test reads (src/logger.ts's real configuration, into memory), and a
// fake DNS for webhook URLs. Also the checks both suites make of every response.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { buildAppWithSweeper } from '../../src/app.ts';
import { issueKey } from '../../src/auth/keys.ts';
import { systemClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { ERRORS } from '../../src/errors.ts';
import { schemaCompilers } from '../../src/http/plugins/validator.ts';
import { newTenantId, type TenantId } from '../../src/ids.ts';
import { createLogger } from '../../src/logger.ts';
import { MemoryRateLimiter } from '../../src/ratelimit/memory.ts';
import { insertApiKey } from '../../src/store/api-keys.ts';
import type { Dialect } from '../../src/store/db.ts';
import { insertTenant } from '../../src/store/tenants.ts';
import type { HostLookup } from '../../src/webhooks/url-guard.ts';
import { startFakeMeta } from '../fakes/meta-graph.ts';
import type { IssuedKey, TestApp, TestNumber } from '../helpers/build-test-app.ts';
import { createTestStore, TEST_SECRET_KEY } from '../helpers/stores.ts';

export interface MetaSeed {
  phoneNumberId: string;
  displayPhoneNumber: string;
  wabaId: string;
  accessToken: string;
  appSecret: string;
  verifyToken: string;
}

export const META_SEEDS: readonly MetaSeed[] = [
  {
    phoneNumberId: '110200345567891',
    displayPhoneNumber: '551140040000',
    wabaId: '102290129340398',
    accessToken: 'EAAG-hostile-token-A-6f1c0e',
    appSecret: 'app-secret-A-5d8f2b91',
    verifyToken: 'vt-A-93be4a7c',
  },
  {
    phoneNumberId: '110200345567892',
    displayPhoneNumber: '551140040001',
    wabaId: '102290129340399',
    accessToken: 'EAAG-hostile-token-B-2a7d4c',
    appSecret: 'app-secret-B-7e3a9c04',
    verifyToken: 'vt-B-1f6d2e8b',
  },
  {
    phoneNumberId: '110200345567893',
    displayPhoneNumber: '551140040002',
    wabaId: '102290129340400',
    accessToken: 'EAAG-hostile-token-X-9b5e1f',
    appSecret: 'app-secret-X-0c4b8d62',
    verifyToken: 'vt-X-6a2c9f1d',
  },
];

export interface HostileNumber extends TestNumber {
  tenantId: TenantId;
  seed: MetaSeed;
}

export interface HostileApp extends TestApp {
  numberA: HostileNumber;
  numberB: HostileNumber;
  /** The other tenant: its key and its one number X. */
  tenant2Id: TenantId;
  tenant2Key: IssuedKey;
  numberX: HostileNumber;
  /** Every log line written so far (pino JSON). */
  logLines: string[];
  /** Re-creates a number the way the seed did (after a test deleted it); returns the new one. */
  recreateNumber(n: HostileNumber): Promise<HostileNumber>;
}

/** Fake DNS: every name is a public address, except *.invalid which does not resolve. */
export const publicLookup: HostLookup = async (host) => {
  if (host.endsWith('.invalid')) {
    throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  }
  return [{ address: '93.184.216.34', family: 4 }];
};

export async function buildHostileApp(
  kind: Dialect,
  opts: { logLevel?: string; env?: Record<string, string> } = {},
): Promise<HostileApp> {
  const store = await createTestStore(kind);
  const fake = await startFakeMeta({
    numbers: META_SEEDS.map(({ verifyToken: _v, ...n }) => n),
    webhookRetryScheduleMs: [0, 20, 50],
  });
  const config = loadConfig({
    META_GRAPH_BASE_URL: fake.baseUrl,
    PROVIDER_TIMEOUT_MS: '400',
    RATE_LIMIT_PER_SECOND: '100000',
    RATE_LIMIT_BURST: '100000',
    TERMINATE_RATE_LIMIT_PER_SECOND: '100000',
    TERMINATE_RATE_LIMIT_BURST: '100000',
    ...store.env,
    ...opts.env,
  });
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const compilers = schemaCompilers();
  const { app, sweeper, recordingRetention } = await buildAppWithSweeper({
    config,
    db: store.db,
    secretKey: TEST_SECRET_KEY,
    clock: systemClock,
    logger: createLogger(opts.logLevel ?? 'trace', sink),
    rateLimiter: new MemoryRateLimiter(),
    webhookHostLookup: publicLookup,
    schemaCompilers: compilers,
  });
  const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
  fake.setWebhookUrl(`${baseUrl}/providers/meta/webhook`);

  async function tenant(name: string): Promise<{ id: TenantId; key: IssuedKey }> {
    const id = newTenantId();
    const issued = issueKey(id, null, new Date().toISOString());
    await insertTenant(store.db, { id, name, createdAt: new Date().toISOString() });
    await insertApiKey(store.db, issued.record);
    return { id, key: { id: issued.id, key: issued.key } };
  }
  const t1 = await tenant('Acme');
  const t2 = await tenant('Rival');
  const keyOfTenant = new Map<TenantId, string>([
    [t1.id, t1.key.key],
    [t2.id, t2.key.key],
  ]);

  async function createNumber(tenantId: TenantId, seed: MetaSeed, name: string): Promise<HostileNumber> {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/numbers',
      headers: { 'x-api-key': keyOfTenant.get(tenantId)! },
      payload: {
        name,
        phoneNumber: `+${seed.displayPhoneNumber}`,
        provider: 'META',
        meta: {
          phoneNumberId: seed.phoneNumberId,
          wabaId: seed.wabaId,
          accessToken: seed.accessToken,
          appSecret: seed.appSecret,
          verifyToken: seed.verifyToken,
        },
      },
    });
    if (res.statusCode !== 201) {
      throw new Error(`seeding number failed: ${res.statusCode} ${res.body}`);
    }
    const body = res.json();
    return {
      id: body.number.id,
      phoneNumberId: seed.phoneNumberId,
      displayPhoneNumber: seed.displayPhoneNumber,
      appSecret: seed.appSecret,
      verifyToken: seed.verifyToken,
      key: body.apiKey,
      tenantId,
      seed,
    };
  }

  return {
    app,
    sweeper,
    recordingRetention,
    compileSchemas: compilers.compileAll,
    baseUrl,
    store,
    config,
    fake,
    logLines,
    tenantId: t1.id,
    tenantKey: t1.key,
    tenant2Id: t2.id,
    tenant2Key: t2.key,
    numberA: await createNumber(t1.id, META_SEEDS[0]!, 'Number A'),
    numberB: await createNumber(t1.id, META_SEEDS[1]!, 'Number B'),
    numberX: await createNumber(t2.id, META_SEEDS[2]!, 'Number X'),
    recreateNumber: (n) => createNumber(n.tenantId, n.seed, `Recreated ${n.seed.phoneNumberId}`),
    async close() {
      await fake.close();
      const closing = app.close();
      // A connection that never sent a byte (fetch can leave one behind after an abort) would hold close()
      // for the whole 60 s connection timeout: this is the end of the test, so drop them all.
      app.server.closeAllConnections();
      await closing;
      await store.dispose();
    },
  };
}

export interface SeenResponse {
  method: string;
  url: string;
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

const ENVELOPE_KEYS = new Set(['error', 'code', 'details', 'requestId']);
/** A stack frame, a file path with a line number, or a Node internal: none may leave the server. */
const STACK_LIKE = /\bat [\w.<>$ []*\(?(?:file:\/\/|\/|node:)[^\s)"]*:\d+:\d+|node_modules\/|node:internal\//;

/** Problems with one response: a 5xx that is not an upstream provider failure, a non-envelope error, a stack. */
export function responseProblems(r: SeenResponse): string[] {
  const problems: string[] = [];
  let body: unknown;
  if (r.status >= 400 && r.method !== 'HEAD') {
    try {
      body = JSON.parse(r.body);
    } catch {
      problems.push(`error body is not JSON: ${r.body.slice(0, 200)}`);
    }
    if (body !== undefined) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        problems.push('error body is not an object');
      } else {
        const b = body as Record<string, unknown>;
        const extra = Object.keys(b).filter((k) => !ENVELOPE_KEYS.has(k));
        if (extra.length) {
          problems.push(`error body has keys outside the envelope: ${extra.join(', ')}`);
        }
        if (typeof b.error !== 'string' || b.error.length === 0) {
          problems.push('error body has no "error" text');
        }
        if (typeof b.code !== 'string' || !(b.code in ERRORS)) {
          problems.push(`error body has no known "code": ${String(b.code)}`);
        } else if (ERRORS[b.code as keyof typeof ERRORS].status !== r.status) {
          problems.push(`code ${b.code} sent with status ${r.status}`);
        }
        if (typeof b.requestId !== 'string' || b.requestId.length === 0) {
          problems.push('error body has no "requestId"');
        }
        // An Idempotency-Key replay is the first response verbatim, so its body names the first request.
        else if (r.headers['x-request-id'] !== b.requestId && r.headers['idempotent-replayed'] !== 'true') {
          problems.push('requestId differs from the x-request-id header');
        }
        if (
          b.details !== undefined &&
          (typeof b.details !== 'object' || b.details === null || Array.isArray(b.details))
        ) {
          problems.push('details is not an object');
        }
      }
    }
  }
  const code = body && typeof body === 'object' ? (body as { code?: unknown }).code : undefined;
  // A 502 is the provider's failure passed on (the spec's PROVIDER_ERROR / PROVIDER_UNAVAILABLE), not ours.
  if (r.status >= 500 && !(r.status === 502 && (code === 'PROVIDER_ERROR' || code === 'PROVIDER_UNAVAILABLE'))) {
    problems.push(`server error ${r.status}`);
  }
  if (STACK_LIKE.test(r.body) && !r.url.startsWith('/docs') && !r.url.startsWith('/openapi.json')) {
    problems.push('body looks like it carries a stack trace');
  }
  return problems;
}

export function assertResponseOk(r: SeenResponse): void {
  const problems = responseProblems(r);
  assert.deepEqual(problems, [], `${r.method} ${r.url.slice(0, 200)} → ${r.status} ${r.body.slice(0, 300)}`);
}
