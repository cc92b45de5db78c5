// `npm run bench`: the real server (node src/main.mjs, embedded SQLite in a temp DATA_DIR) against a bare Fastify
// baseline, both spawned the same way, everything on 127.0.0.1 with a fast Meta stand-in (bench/fast-meta.ts) and a
// webhook receiver (bench/receiver.ts). Prints terminate throughput and latency, webhook event→delivery latency, RSS
// with 10,000 active calls and cold start, each next to the baseline, as ratios, with the targets of issue 6.
// Every phase is bounded in time, so an overloaded server makes figures worse, never the run endless.
//
// Environment: SQLITE_SYNCHRONOUS (FULL|NORMAL) is passed through to the server; BENCH_SERVER_NODE_OPTIONS becomes
// the server's NODE_OPTIONS (e.g. --max-semi-space-size=8); BENCH_CPU_PROF=<dir> runs the server under --cpu-prof.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import {
  type Child,
  cpuMs,
  createTenantKey,
  freePort,
  median,
  memoryMb,
  NODE,
  paced,
  percentile,
  ROOT,
  request,
  sleep,
  spawnListening,
  spawnNode,
  UNLIMITED_RATE_LIMITS,
  waitHealthy,
} from './lib.ts';
import { mediaBaseline, mediaCallgate, mediaRows, mediaVerdict } from './media.ts';
import { createMetaNumber, metaWebhook } from './meta-webhook.ts';
import { type Row, renderTable } from './report.ts';
import { srtpRows } from './srtp.ts';

interface AutocannonResult {
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
}
type AutocannonRun = Promise<AutocannonResult> & { stop(): void };
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: Record<string, unknown>) => AutocannonRun;

const SEED_ACTIVE = 10_000;
const WARMUP_TERMINATES = 1000;
const RATE = 1000;
const RATE_SECONDS = 5;
const THROUGHPUT_SECONDS = 5;
const THROUGHPUT_MAX_CALLS = 30_000;
const THROUGHPUT_CONNECTIONS = 32;
const EASY_SECONDS = 3;
const EVENT_RATE = 1000;
const EVENT_SECONDS = 5;
const COLD_STARTS = 5;
const SEED_BATCH = 250;

/** `npm run bench -- --only media` (or BENCH_ONLY=media) runs the media rows alone; `--only core` all but them. */
const only = (() => {
  const i = process.argv.indexOf('--only');
  const value = i >= 0 ? process.argv[i + 1] : process.env.BENCH_ONLY;
  if (value !== undefined && value !== 'media' && value !== 'core') {
    throw new Error(`--only takes media or core, got "${value}"`);
  }
  return value;
})();

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const details: string[] = [];
const note = (line: string) => {
  details.push(line);
  process.stderr.write(`  · ${line}\n`);
};
const phase = (what: string) => process.stderr.write(`▸ ${what}\n`);
const loadAverage = () =>
  os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

// ───────────────────────────── processes ─────────────────────────────

interface Server {
  child: Child;
  url: string;
  coldStartMs: number;
}

async function startServer(script: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<Server> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawnNode(script, { HOST: '127.0.0.1', PORT: String(port), ...env }, nodeArgs);
  const url = `http://127.0.0.1:${port}`;
  const ready = await waitHealthy(child, url);
  return { child, url, coldStartMs: ready - t0 };
}

async function seedCalls(server: Server, prefix: string, count: number): Promise<void> {
  const t0 = performance.now();
  const batches: string[][] = [];
  for (let i = 0; i < count; i += SEED_BATCH) {
    batches.push(Array.from({ length: Math.min(SEED_BATCH, count - i) }, (_, j) => `${prefix}${i + j}`));
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        const { body, headers } = metaWebhook(batch);
        const res = await request(agent, `${server.url}/providers/meta/webhook`, { method: 'POST', headers, body });
        if (res.status !== 200 || JSON.parse(res.body).received !== batch.length) {
          throw new Error(`seeding failed: ${res.status} ${res.body}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  note(
    `seeded ${count} ringing calls through signed Meta webhooks (${SEED_BATCH} per POST): ${Math.round(count / seconds)} offers/s`,
  );
}

function withStore<T>(dataDir: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(join(dataDir, 'callgate.db'), { readOnly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Our ids of the ringing calls whose provider id starts with prefix (read-only, beside the running server). */
const ringingIds = (dataDir: string, prefix: string): string[] =>
  withStore(dataDir, (db) =>
    (
      db
        .prepare(`SELECT id FROM calls WHERE status = 'RINGING' AND external_call_id LIKE ? ORDER BY created_at, id`)
        .all(`${prefix}%`) as { id: string }[]
    ).map((r) => r.id),
  );

const countStatus = (dataDir: string, status: string): number =>
  withStore(dataDir, (db) =>
    Number((db.prepare('SELECT COUNT(*) AS n FROM calls WHERE status = ?').get(status) as { n: number }).n),
  );

const metaServed = async (metaUrl: string): Promise<number> =>
  JSON.parse((await request(agent, `${metaUrl}/_count`)).body).served as number;

// ───────────────────────────── load phases (the same for callgate and the baseline) ─────────────────────────────

interface RateRun {
  rate: number;
  p50: number;
  p99: number;
  achievedRate: number;
  ok: number;
  count: number;
}

async function terminateAtRate(
  url: string,
  key: string,
  ids: readonly string[],
  rate: number,
  seconds: number,
): Promise<RateRun> {
  const count = Math.round(rate * seconds);
  if (ids.length < count) {
    throw new Error(`need ${count} active calls, have ${ids.length}`);
  }
  const r = await paced({
    rate,
    count,
    sendForMs: seconds * 2000,
    graceMs: 5000,
    send: async (i, signal) =>
      (
        await request(agent, `${url}/v1/calls/${ids[i]}/terminate`, {
          method: 'POST',
          headers: { 'x-api-key': key },
          signal,
        })
      ).status,
  });
  return {
    rate,
    p50: percentile(r.latenciesMs, 50),
    p99: percentile(r.latenciesMs, 99),
    achievedRate: r.answered / (r.durationMs / 1000),
    ok: r.statuses.get(200) ?? 0,
    count,
  };
}

interface ThroughputRun {
  perSecond: number;
  ok: number;
  other: number;
  seconds: number;
  cpuMsPerRequest: number;
}

/** Closed loop, as fast as the server answers, each request on a distinct call; stopped after `seconds`. */
async function terminateThroughput(
  url: string,
  pid: number,
  key: string,
  ids: readonly string[],
  seconds: number,
): Promise<ThroughputRun> {
  let next = 0;
  const cpu0 = cpuMs(pid);
  const t0 = performance.now();
  const run = autocannon({
    url,
    connections: Math.min(THROUGHPUT_CONNECTIONS, ids.length),
    amount: ids.length,
    timeout: 30,
    headers: { 'x-api-key': key },
    requests: [
      {
        method: 'POST',
        path: `/v1/calls/${ids[0]}/terminate`,
        // Every request hits a distinct active call, so each does the whole claim → provider → settle + outbox.
        setupRequest: (req: Record<string, unknown>) => ({
          ...req,
          path: `/v1/calls/${ids[next++ % ids.length]}/terminate`,
        }),
      },
    ],
  });
  const timer = setTimeout(() => run.stop(), seconds * 1000);
  const result = await run;
  clearTimeout(timer);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuMs(pid) - cpu0;
  const answered = result['2xx'] + result.non2xx;
  return {
    perSecond: result['2xx'] / elapsed,
    ok: result['2xx'],
    other: result.non2xx + result.errors + result.timeouts,
    seconds: elapsed,
    cpuMsPerRequest: answered ? cpu / answered : NaN,
  };
}

interface EventRun {
  p50: number;
  p99: number;
  sendP50: number;
  sendP99: number;
  delivered: number;
  count: number;
  accepted: number;
  achievedRate: number;
}

/** Signed connect webhooks at a fixed rate, one new call each; the receiver times each call.ringing delivery. */
async function eventsToDelivery(url: string, receiverUrl: string, prefix: string): Promise<EventRun> {
  const count = EVENT_RATE * EVENT_SECONDS;
  const posts = Array.from({ length: count }, (_, i) => metaWebhook([`${prefix}${i}`]));
  await request(agent, `${receiverUrl}/_records`); // forget anything earlier
  const run = await paced({
    rate: EVENT_RATE,
    count,
    sendForMs: EVENT_SECONDS * 2000,
    graceMs: 5000,
    send: async (i, signal) =>
      (
        await request(agent, `${url}/providers/meta/webhook`, {
          method: 'POST',
          headers: posts[i]!.headers,
          body: posts[i]!.body,
          signal,
        })
      ).status,
  });
  const records: { arrivedAt: number; occurredAt: number; externalCallId: string | null }[] = [];
  const accepted = run.statuses.get(200) ?? 0;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    await sleep(200);
    records.push(...(JSON.parse((await request(agent, `${receiverUrl}/_records`)).body).records as typeof records));
    if (records.length >= accepted) {
      break;
    }
  }
  const byCall = new Map<number, { arrivedAt: number; occurredAt: number }>();
  for (const r of records) {
    if (r.externalCallId?.startsWith(prefix)) {
      byCall.set(Number(r.externalCallId.slice(prefix.length)), r);
    }
  }
  // Every event sent counts: one never delivered (or never accepted) has an infinite latency.
  const latencies = posts.map((_, i) => {
    const r = byCall.get(i);
    return r ? r.arrivedAt - r.occurredAt : Infinity;
  });
  const fromSend = posts.map((_, i) => {
    const r = byCall.get(i);
    return r ? r.arrivedAt - run.scheduledAt[i]! : Infinity;
  });
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    sendP50: percentile(fromSend, 50),
    sendP99: percentile(fromSend, 99),
    delivered: byCall.size,
    count,
    accepted,
    achievedRate: run.answered / (run.durationMs / 1000),
  };
}

// ───────────────────────────── the run ─────────────────────────────

interface Figures {
  throughput: ThroughputRun;
  rate: RateRun;
  easy: RateRun;
  events: EventRun;
  rssMb: number;
  /**
   * Starts as installed (the compile cache `npm install` filled, see scripts/warm-compile-cache.mjs) and with no
   * compile cache at all (the baseline uses none: the same figures).
   */
  coldStartMs: number[];
  uncachedStartMs: number[];
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = loadAverage();
  const tmp = mkdtempSync(join(os.tmpdir(), 'callgate-bench-'));
  const dataDir = join(tmp, 'data');
  const children: Child[] = [];
  // Ctrl-C must not leave servers running: kill what we started, then go.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const c of children) {
        c.proc.kill('SIGKILL');
      }
      rmSync(tmp, { recursive: true, force: true });
      process.exit(130);
    });
  }
  const synchronous = process.env.SQLITE_SYNCHRONOUS;
  const profDir = process.env.BENCH_CPU_PROF;
  const nodeOptions = process.env.BENCH_SERVER_NODE_OPTIONS;
  try {
    const meta = await spawnListening('bench/fast-meta.ts');
    children.push(meta.child);
    const receiver = await spawnListening('bench/receiver.ts');
    children.push(receiver.child);
    const serverEnv: Record<string, string> = {
      DATA_DIR: dataDir,
      META_GRAPH_BASE_URL: meta.url,
      WEBHOOK_ALLOW_INSECURE_URLS: 'true',
      LOG_LEVEL: 'warn',
      ...UNLIMITED_RATE_LIMITS,
      // Seeded calls ring for the whole run: the sweeper must not end them as ring timeouts.
      RING_TIMEOUT_SECONDS: '86400',
      ...(synchronous ? { SQLITE_SYNCHRONOUS: synchronous } : {}),
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    };

    const rows: Row[] = [];
    if (only !== 'media') {
      // ── callgate ──
      phase(`callgate: tenant (CLI), number, ${SEED_ACTIVE} active calls`);
      const tenantKey = createTenantKey(dataDir, synchronous ? { SQLITE_SYNCHRONOUS: synchronous } : {});

      const server = await startServer(
        'src/main.mjs',
        serverEnv,
        profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
      );
      children.push(server.child);
      const numberKey = await createMetaNumber(agent, server.url, tenantKey);

      await seedCalls(server, 'wacid.seed.a.', SEED_ACTIVE);
      await sleep(1000);
      const rssMb = memoryMb(server.child.pid);
      note(`callgate RSS with ${countStatus(dataDir, 'RINGING')} active calls: ${rssMb.toFixed(1)} MB`);

      phase(`callgate: ${WARMUP_TERMINATES} warm-up terminates, then ${RATE * RATE_SECONDS} at ${RATE}/s`);
      const seeded = ringingIds(dataDir, 'wacid.seed.a.');
      const warm = await terminateThroughput(
        server.url,
        server.child.pid,
        numberKey,
        seeded.slice(0, WARMUP_TERMINATES),
        30,
      );
      const metaBefore = await metaServed(meta.url);
      const rate = await terminateAtRate(server.url, numberKey, seeded.slice(WARMUP_TERMINATES), RATE, RATE_SECONDS);
      note(
        `callgate at ${RATE}/s offered: ${rate.ok}/${rate.count} answered 200, achieved ${Math.round(rate.achievedRate)}/s, ` +
          `${(await metaServed(meta.url)) - metaBefore} Meta requests`,
      );

      // Fresh calls for THROUGHPUT_SECONDS at three times the warm-up's rate (which ran on a cold JIT), so the phase
      // never runs out of calls: "5000 calls available" in the report would cap the figure, not the server.
      const wanted = Math.min(
        THROUGHPUT_MAX_CALLS,
        Math.max(10_000, Math.ceil(warm.perSecond * 3 * THROUGHPUT_SECONDS)),
      );
      phase(
        `callgate: ${wanted} more active calls, then terminates as fast as it answers for ${THROUGHPUT_SECONDS} s (${THROUGHPUT_CONNECTIONS} connections)`,
      );
      await seedCalls(server, 'wacid.seed.b.', wanted);
      const targets = ringingIds(dataDir, 'wacid.seed.b.');
      const completedBefore = countStatus(dataDir, 'COMPLETED');
      const metaBefore2 = await metaServed(meta.url);
      const throughput = await terminateThroughput(
        server.url,
        server.child.pid,
        numberKey,
        targets,
        THROUGHPUT_SECONDS,
      );
      await sleep(500); // requests in flight when the client stopped still finish
      note(
        `callgate throughput: ${throughput.ok} × 200 and ${throughput.other} other in ${throughput.seconds.toFixed(2)} s ` +
          `(${targets.length} calls available); ${countStatus(dataDir, 'COMPLETED') - completedBefore} calls COMPLETED, ` +
          `${(await metaServed(meta.url)) - metaBefore2} Meta requests; server CPU ${throughput.cpuMsPerRequest.toFixed(3)} ms per terminate`,
      );

      // Latency where the server is not overloaded: half its measured throughput.
      const easyRate = Math.max(50, Math.round(throughput.perSecond / 2));
      phase(`callgate: ${Math.round(easyRate * EASY_SECONDS)} terminates at ${easyRate}/s (half its throughput)`);
      let spare = ringingIds(dataDir, 'wacid.seed.');
      if (spare.length < easyRate * EASY_SECONDS) {
        await seedCalls(server, 'wacid.seed.c.', Math.ceil(easyRate * EASY_SECONDS - spare.length));
        spare = ringingIds(dataDir, 'wacid.seed.');
      }
      const easy = await terminateAtRate(server.url, numberKey, spare, easyRate, EASY_SECONDS);
      note(
        `callgate at ${easyRate}/s offered: ${easy.ok}/${easy.count} answered 200, achieved ${Math.round(easy.achievedRate)}/s`,
      );

      phase(`callgate: webhook registered, ${EVENT_RATE * EVENT_SECONDS} signed connect webhooks at ${EVENT_RATE}/s`);
      const hook = await request(agent, `${server.url}/v1/webhooks`, {
        method: 'POST',
        headers: { 'x-api-key': numberKey, 'content-type': 'application/json' },
        body: JSON.stringify({ url: `${receiver.url}/hook`, events: ['call.ringing'], name: 'bench' }),
      });
      if (hook.status !== 201) {
        throw new Error(`webhook registration failed: ${hook.status} ${hook.body}`);
      }
      const events = await eventsToDelivery(server.url, receiver.url, 'wacid.ev.');
      note(
        `callgate events: ${events.accepted}/${events.count} webhooks answered 200 (achieved ${Math.round(events.achievedRate)}/s), ` +
          `${events.delivered} call.ringing delivered; webhook POST→delivery p50 ${fmtMs(events.sendP50)}, p99 ${fmtMs(events.sendP99)}`,
      );
      note(`callgate peak RSS over the run (VmHWM): ${memoryMb(server.child.pid, 'VmHWM').toFixed(1)} MB`);
      await server.child.stop();
      children.pop();

      // ── baseline ──
      phase('baseline: bare Fastify, the same phases');
      const base = await startServer('bench/baseline-server.ts', { RECEIVER_URL: `${receiver.url}/hook` });
      children.push(base.child);
      const baseRss = memoryMb(base.child.pid);
      const fakeIds = Array.from({ length: THROUGHPUT_MAX_CALLS * 2 }, (_, i) => `call_${i}`);
      await terminateThroughput(base.url, base.child.pid, 'ps_none', fakeIds.slice(0, WARMUP_TERMINATES), 30);
      const baseRate = await terminateAtRate(base.url, 'ps_none', fakeIds, RATE, RATE_SECONDS);
      const baseThroughput = await terminateThroughput(
        base.url,
        base.child.pid,
        'ps_none',
        fakeIds,
        THROUGHPUT_SECONDS,
      );
      // The baseline at callgate's easy rate, so the two latencies compare at the same load.
      const baseEasy = await terminateAtRate(base.url, 'ps_none', fakeIds, easy.rate, EASY_SECONDS);
      const baseEvents = await eventsToDelivery(base.url, receiver.url, 'wacid.bev.');
      note(
        `baseline: ${baseThroughput.ok} × 200 in ${baseThroughput.seconds.toFixed(2)} s, CPU ${baseThroughput.cpuMsPerRequest.toFixed(3)} ms per request; ` +
          `${baseEvents.delivered}/${baseEvents.count} events relayed; peak RSS ${memoryMb(base.child.pid, 'VmHWM').toFixed(1)} MB`,
      );
      await base.child.stop();
      children.pop();

      // ── cold starts, alternating; callgate on the store the run filled ──
      // src/main.mjs turns on Node's compile cache (node_modules/.cache/callgate-compile unless NODE_COMPILE_CACHE says
      // otherwise), which `npm install` fills by running scripts/warm-compile-cache.mjs. Measured as deployed: each
      // "as installed" start gets a fresh copy of a cache that script filled (the first start after an install), each
      // "no cache" start runs with the cache disabled. The baseline enables no cache, so one series of it serves both.
      phase(
        `cold start: ${COLD_STARTS} spawns each of callgate as installed, with no compile cache, and the baseline, alternating`,
      );
      const installedCache = join(tmp, 'compile-cache-installed');
      const install = spawnSync(NODE, [join(ROOT, 'scripts/warm-compile-cache.mjs')], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', NODE_COMPILE_CACHE: installedCache },
        encoding: 'utf8',
      });
      if (install.status !== 0 || !/filled in/.test(install.stderr)) {
        throw new Error(`warm-compile-cache failed: ${install.stderr}`);
      }
      const coldCallgate: number[] = [];
      const uncachedCallgate: number[] = [];
      const coldBase: number[] = [];
      for (let i = 0; i < COLD_STARTS; i++) {
        const cache = join(tmp, `compile-cache-${i}`);
        cpSync(installedCache, cache, { recursive: true });
        const c = await startServer('src/main.mjs', { ...serverEnv, NODE_COMPILE_CACHE: cache });
        coldCallgate.push(c.coldStartMs);
        await c.child.stop();
        const u = await startServer('src/main.mjs', { ...serverEnv, NODE_DISABLE_COMPILE_CACHE: '1' });
        uncachedCallgate.push(u.coldStartMs);
        await u.child.stop();
        const b = await startServer('bench/baseline-server.ts', {});
        coldBase.push(b.coldStartMs);
        await b.child.stop();
      }
      const list = (values: number[]) => values.map((v) => v.toFixed(0)).join(', ');
      note(
        `cold starts (ms): callgate as installed ${list(coldCallgate)}; callgate, no compile cache ${list(uncachedCallgate)}; baseline ${list(coldBase)}`,
      );

      rows.push(
        ...coreRows(
          { throughput, rate, easy, events, rssMb, coldStartMs: coldCallgate, uncachedStartMs: uncachedCallgate },
          {
            throughput: baseThroughput,
            rate: baseRate,
            easy: baseEasy,
            events: baseEvents,
            rssMb: baseRss,
            coldStartMs: coldBase,
            uncachedStartMs: coldBase,
          },
        ),
      );
    }
    if (only === undefined || only === 'media') {
      const ctx = { tmp, children, agent, note, phase };
      // BENCH_SERVER_NODE_ARGS: options given to callgate's node itself (V8 flags NODE_OPTIONS refuses, say).
      const serverArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
      const profArgs = [...serverArgs, ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])];
      const media = await mediaCallgate(ctx, serverEnv, profArgs);
      // BENCH_MEDIA_BASELINE_TOP ramps the bare echo further than callgate got: where werift alone stops.
      const top = Math.max(...media.steps.map((s) => s.calls), Number(process.env.BENCH_MEDIA_BASELINE_TOP ?? 0));
      const baseline = await mediaBaseline(ctx, top);
      note(mediaVerdict(media));
      rows.push(...mediaRows(media, baseline), ...srtpRows(note));
    }
    printReport(rows, {
      synchronous: synchronous?.toUpperCase() ?? 'FULL (default)',
      nodeOptions: nodeOptions ?? '',
      seconds: (performance.now() - started) / 1000,
      loadBefore,
      loadAfter: loadAverage(),
    });
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    agent.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ───────────────────────────── the report ─────────────────────────────

function fmtMs(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(1)} ms` : 'never (not delivered in time)';
}

function coreRows(c: Figures, b: Figures): Row[] {
  return [
    {
      metric: 'terminate throughput',
      unit: 'req/s',
      callgate: c.throughput.perSecond,
      baseline: b.throughput.perSecond,
      digits: 0,
      target: '≥ 5000/s',
      pass: c.throughput.perSecond >= 5000,
    },
    {
      metric: 'terminate server CPU',
      unit: 'ms/req',
      callgate: c.throughput.cpuMsPerRequest,
      baseline: b.throughput.cpuMsPerRequest,
      digits: 3,
      target: '—',
      pass: null,
    },
    {
      metric: `terminate p50 @ ${RATE}/s`,
      unit: 'ms',
      callgate: c.rate.p50,
      baseline: b.rate.p50,
      digits: 2,
      target: '—',
      pass: null,
    },
    {
      metric: `terminate p99 @ ${RATE}/s`,
      unit: 'ms',
      callgate: c.rate.p99,
      baseline: b.rate.p99,
      digits: 2,
      target: '≤ 10 ms',
      pass: c.rate.p99 <= 10,
    },
    {
      metric: `terminate p50 @ ${c.easy.rate}/s (½ max)`,
      unit: 'ms',
      callgate: c.easy.p50,
      baseline: b.easy.p50,
      digits: 2,
      target: '—',
      pass: null,
    },
    {
      metric: `terminate p99 @ ${c.easy.rate}/s (½ max)`,
      unit: 'ms',
      callgate: c.easy.p99,
      baseline: b.easy.p99,
      digits: 2,
      target: '—',
      pass: null,
    },
    {
      metric: `event→delivery p50 @ ${EVENT_RATE}/s`,
      unit: 'ms',
      callgate: c.events.p50,
      baseline: b.events.p50,
      digits: 0,
      target: '—',
      pass: null,
    },
    {
      metric: `event→delivery p99 @ ${EVENT_RATE}/s`,
      unit: 'ms',
      callgate: c.events.p99,
      baseline: b.events.p99,
      digits: 0,
      target: '≤ 50 ms',
      pass: c.events.p99 <= 50,
    },
    {
      metric: `RSS, ${SEED_ACTIVE.toLocaleString('en')} active calls`,
      unit: 'MB',
      callgate: c.rssMb,
      baseline: b.rssMb,
      digits: 1,
      target: '≤ 150 MB',
      pass: c.rssMb <= 150,
    },
    {
      metric: `cold start, as installed (median of ${COLD_STARTS})`,
      unit: 'ms',
      callgate: median(c.coldStartMs),
      baseline: median(b.coldStartMs),
      digits: 0,
      target: '≤ 500 ms',
      pass: median(c.coldStartMs) <= 500,
    },
    {
      metric: `cold start, no compile cache (median of ${COLD_STARTS})`,
      unit: 'ms',
      callgate: median(c.uncachedStartMs),
      baseline: median(b.uncachedStartMs),
      digits: 0,
      target: '—',
      pass: null,
    },
  ];
}

function printReport(
  rows: readonly Row[],
  run: { synchronous: string; nodeOptions: string; seconds: number; loadBefore: string; loadAfter: string },
): void {
  const cpus = os.cpus();
  process.stdout.write(
    [
      '',
      `callgate benchmark — ${new Date().toISOString()}`,
      `machine: ${cpus[0]?.model.trim() ?? 'unknown CPU'} × ${cpus.length} logical CPUs, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ` +
        `${os.type()} ${os.release()}, Node ${process.version}; load average before ${run.loadBefore}, after ${run.loadAfter}`,
      `store: embedded SQLite (WAL), synchronous=${run.synchronous}${run.nodeOptions ? `; server NODE_OPTIONS=${run.nodeOptions}` : ''}; ` +
        'baselines: a bare Fastify route returning a constant, spawned the same way; for media, the same caller ' +
        'peers answered by a bare werift process echoing their RTP (no Opus, no engine); for SRTP, AES-CM with a Node ' +
        'cipher and Hmac per packet, as werift 0.25.2 made it',
      '',
      ...renderTable(rows),
      '',
      ...details.map((d) => `  ${d}`),
      `  ratio = callgate / baseline; "timeout" = some requests or events were not answered/delivered within the phase's bound;`,
      "  event→delivery has millisecond resolution (occurredAt), so the baseline's sub-millisecond relay can read 0.",
      `  Run took ${run.seconds.toFixed(0)} s.`,
      '',
    ].join('\n'),
  );
}

await main();
