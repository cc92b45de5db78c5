// The media rows of `npm run bench` (docs/spec/media.md "Performance"): how many server-media calls ONE callgate
// process holds with both directions flowing, and what each costs. Caller peers (bench/media-peers.ts, which is also
// the Meta Graph stand-in) and realtime WebSocket clients (bench/media-clients.ts) run in their own processes; the
// count ramps in steps, each held for a bounded window, and the ramp stops at the first step that fails. The baseline
// is the same caller peers against a bare werift echo (bench/media-baseline.ts), ramped the same way.
import type http from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  type Child,
  cpuMs,
  createTenantKey,
  freePort,
  memoryMb,
  percentile,
  ROOT,
  request,
  sleep,
  spawnListening,
  spawnNode,
  waitHealthy,
} from './lib.ts';
import type { PeerWindow } from './media-peers.ts';
import { createMetaNumber, metaWebhook } from './meta-webhook.ts';
import type { Row } from './report.ts';

/**
 * Concurrent calls per step (BENCH_MEDIA_STEPS=10,25,… overrides). A step adds calls to those of the step before,
 * which stay up.
 */
export const MEDIA_STEPS = (process.env.BENCH_MEDIA_STEPS ?? '10,20,30,40,50,60,80,100,150,200,300')
  .split(',')
  .map(Number);
/** Pacing and loss are measured over this long at each step, after the new calls have settled for SETTLE_MS. */
const WINDOW_MS = 5000;
const SETTLE_MS = 5000;
const IDLE_MS = 3000;
/**
 * Before the ramp, this many calls are set up one at a time, each after the one before it is heard: first audio
 * for a call that arrives alone, without ACCEPT_CONCURRENCY other set-ups queued beside it. The first is the
 * process's first call (it loads libopus, makes werift's DTLS certificate and runs cold code) and is shown apart.
 * They stay up and count towards the first step.
 */
const SOLO_CALLS = 6;
/** How long a solo call may take to be heard before it counts as never. */
const SOLO_TIMEOUT_MS = 10_000;
/** A step whose calls are not all set up within this long fails (a bounded phase, whatever the server does). */
const SETUP_TIMEOUT_MS = 60_000;
const PACING_P99_MS = 25;
const ACCEPT_CONCURRENCY = 8;
const WEBHOOK_BATCH = 25;

export interface MediaStep {
  calls: number;
  /** p99 and max of the time between two RTP packets of a call as the process sent them (bench/media-probe.mjs). */
  sendP99Ms: number;
  sendMaxMs: number;
  /** p99 and max of RTP inter-arrival at the caller peers over the window, ms. */
  pacingP99Ms: number;
  pacingMaxMs: number;
  /** Frames missing by RTP sequence number at the callers, and in what the process sent. */
  lost: number;
  sendGaps: number;
  received: number;
  /** Calls whose caller heard audio during the window. */
  hearing: number;
  /** Server (or baseline) CPU over the window above the idle process's, ms per second, per call. */
  cpuPerCall: number;
  /** RSS above the idle process, MB per call. */
  rssPerCallMb: number;
  /** Frames the realtime clients received per call per second (50 when the caller's audio reaches them all). */
  clientFramesPerCall: number | null;
  peerLoopDelayP99Ms: number;
  /** The measured process (callgate or the echo): event-loop delay and longest GC pause over the window, in ms. */
  loopP99Ms: number;
  loopMaxMs: number;
  gcPauseMaxMs: number;
  /** Garbage collections per second over the window, and the time they took, ms per second (all threads). */
  gcPerSecond: number;
  gcMsPerSecond: number;
  passed: boolean;
  why: string;
}

export interface MediaRun {
  steps: MediaStep[];
  /** Accept (callgate) or answer (baseline) to the first RTP packet at the caller, ms, one per call of the ramp. */
  firstAudioMs: number[];
  /** The same for SOLO_CALLS calls set up one at a time before the ramp, each once the one before it is heard. */
  soloFirstAudioMs: number[];
}

export interface MediaContext {
  tmp: string;
  children: Child[];
  agent: http.Agent;
  note: (line: string) => void;
  phase: (what: string) => void;
}

type Json = Record<string, unknown>;

async function post<T = Json>(ctx: MediaContext, url: string, body: unknown, headers: Json = {}): Promise<T> {
  const res = await request(ctx.agent, url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(headers as Record<string, string>) },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) {
    throw new Error(`POST ${url} → ${res.status} ${res.body.slice(0, 300)}`);
  }
  return JSON.parse(res.body) as T;
}

/** Runs fn over items, `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        await fn(items[next++] as T);
      }
    }),
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took over ${ms / 1000} s`)), ms);
    }),
  ]);
}

interface SendWindow {
  p99: number | null;
  max: number | null;
  gaps: number;
  packets: number;
  /** The probed process's event-loop delay and its longest GC pause over the window, in ms. */
  loopP99: number;
  loopMax: number;
  gcPauseMax: number;
  gcCount: number;
  gcTotal: number;
  gcByKind: unknown;
}

/** NODE_OPTIONS that load the send-side probe (plus whatever options the run already gives the process). */
export function withProbe(nodeOptions = ''): string {
  return `--import=${join(ROOT, 'bench/media-probe.mjs')} ${nodeOptions}`.trim();
}

/** Asks a probed process (SIGUSR2) for its send figures since the last ask. */
function sendProbe(child: Child): () => Promise<SendWindow> {
  const waiting: ((w: SendWindow) => void)[] = [];
  createInterface({ input: child.proc.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    if (line.startsWith('MEDIA_SENDS ')) {
      const window = JSON.parse(line.slice('MEDIA_SENDS '.length)) as SendWindow;
      if (process.env.BENCH_MEDIA_GC) {
        process.stderr.write(`  GC by kind, per thread: ${JSON.stringify(window.gcByKind)}\n`);
      }
      waiting.shift()?.(window);
    }
  });
  return () =>
    withTimeout(
      new Promise<SendWindow>((resolve) => {
        waiting.push(resolve);
        child.proc.kill('SIGUSR2');
      }),
      10_000,
      'the send probe',
    );
}

/** One system under test: how calls are added, which process's CPU and RSS count, what the clients saw. */
interface Target {
  pid: number;
  sends: () => Promise<SendWindow>;
  addCalls(offers: { id: string; sdp: string }[], acceptedAt: Map<string, number>): Promise<void>;
  clientWindow(): Promise<{ received: number; seconds: number } | null>;
}

async function ramp(ctx: MediaContext, label: string, peersUrl: string, target: Target, maxCalls: number) {
  const steps: MediaStep[] = [];
  const acceptedAt = new Map<string, number>();
  const idleRss = memoryMb(target.pid);
  // What the process spends with no call (timers, sweeps, the engine's watcher) is not any call's cost.
  const idle0 = cpuMs(target.pid);
  await sleep(IDLE_MS);
  const idleCpu = (cpuMs(target.pid) - idle0) / (IDLE_MS / 1000);
  let firstAudioAt: Record<string, number> = {};
  const soloFirstAudioMs: number[] = [];
  const solo = Math.min(SOLO_CALLS, MEDIA_STEPS[0] ?? SOLO_CALLS);
  for (let i = 0; i < solo; i++) {
    ctx.phase(`${label}: first audio, call ${i + 1} of ${solo} set up alone`);
    soloFirstAudioMs.push(await soloFirstAudio(ctx, peersUrl, target).catch(() => Infinity));
  }
  let calls = solo;
  for (const step of MEDIA_STEPS.filter((s) => s <= maxCalls)) {
    ctx.phase(`${label}: ${step} concurrent calls (adding ${step - calls}), then ${WINDOW_MS / 1000} s measured`);
    try {
      await withTimeout(
        (async () => {
          const { offers } = await post<{ offers: { id: string; sdp: string }[] }>(ctx, `${peersUrl}/_offers`, {
            count: step - calls,
          });
          await target.addCalls(offers, acceptedAt);
        })(),
        SETUP_TIMEOUT_MS,
        `setting up ${step - calls} calls`,
      );
    } catch (err) {
      steps.push(failedStep(step, `set-up failed: ${(err as Error).message}`));
      break;
    }
    calls = step;
    await sleep(SETTLE_MS);
    await post(ctx, `${peersUrl}/_window`, {});
    await target.clientWindow();
    await target.sends();
    const cpu0 = cpuMs(target.pid);
    const t0 = performance.now();
    await sleep(WINDOW_MS);
    const w = await post<PeerWindow>(ctx, `${peersUrl}/_window`, {});
    const seconds = (performance.now() - t0) / 1000;
    const cpu = (cpuMs(target.pid) - cpu0) / seconds - idleCpu;
    const clients = await target.clientWindow();
    const sent = await target.sends();
    firstAudioAt = w.firstAudioAt;
    const sendP99Ms = sent.p99 ?? NaN;
    const reasons: string[] = [];
    if (!(sendP99Ms <= PACING_P99_MS)) {
      reasons.push(`send pacing p99 ${sendP99Ms.toFixed(1)} ms > ${PACING_P99_MS} ms`);
    }
    if (w.lost > 0 || sent.gaps > 0) {
      reasons.push(`${w.lost} frames lost at the callers (${sent.gaps} never sent)`);
    }
    if (w.peers < step) {
      reasons.push(`only ${w.peers} of ${step} callers heard audio`);
    }
    const result: MediaStep = {
      calls: step,
      sendP99Ms,
      sendMaxMs: sent.max ?? NaN,
      pacingP99Ms: percentile(w.intervalsMs, 99),
      pacingMaxMs: w.intervalsMs.length ? Math.max(...w.intervalsMs) : NaN,
      lost: w.lost,
      sendGaps: sent.gaps,
      received: w.received,
      hearing: w.peers,
      cpuPerCall: cpu / step,
      rssPerCallMb: (memoryMb(target.pid) - idleRss) / step,
      clientFramesPerCall: clients ? clients.received / clients.seconds / step : null,
      peerLoopDelayP99Ms: w.loopDelayP99Ms,
      loopP99Ms: sent.loopP99,
      loopMaxMs: sent.loopMax,
      gcPauseMaxMs: sent.gcPauseMax,
      gcPerSecond: sent.gcCount / seconds,
      gcMsPerSecond: sent.gcTotal / seconds,
      passed: reasons.length === 0,
      why: reasons.join('; '),
    };
    steps.push(result);
    ctx.note(`${label} ${describeStep(result)}`);
    if (!result.passed) {
      break;
    }
  }
  const firstAudioMs = [...acceptedAt].map(([id, at]) => {
    const heard = firstAudioAt[id];
    return heard === undefined ? Infinity : heard - at;
  });
  return { steps, firstAudioMs, soloFirstAudioMs };
}

/** One call set up alone: accept (or answer) → its first RTP packet at the caller, ms; Infinity if never heard. */
async function soloFirstAudio(ctx: MediaContext, peersUrl: string, target: Target): Promise<number> {
  const { offers } = await post<{ offers: { id: string; sdp: string }[] }>(ctx, `${peersUrl}/_offers`, { count: 1 });
  const acceptedAt = new Map<string, number>();
  await withTimeout(target.addCalls(offers, acceptedAt), SETUP_TIMEOUT_MS, 'setting up a call alone');
  const id = offers[0]?.id ?? '';
  const deadline = Date.now() + SOLO_TIMEOUT_MS;
  while (Date.now() < deadline) {
    // The caller stamps its first packet itself (epoch ms): how often this asks does not move the figure.
    const heardAt = (await post<PeerWindow>(ctx, `${peersUrl}/_window`, {})).firstAudioAt[id];
    if (heardAt !== undefined) {
      return heardAt - (acceptedAt.get(id) ?? heardAt);
    }
    await sleep(10);
  }
  return Infinity;
}

function failedStep(calls: number, why: string): MediaStep {
  return {
    calls,
    sendP99Ms: NaN,
    sendMaxMs: NaN,
    pacingP99Ms: NaN,
    pacingMaxMs: NaN,
    lost: NaN,
    sendGaps: NaN,
    received: 0,
    hearing: 0,
    cpuPerCall: NaN,
    rssPerCallMb: NaN,
    clientFramesPerCall: null,
    peerLoopDelayP99Ms: NaN,
    loopP99Ms: NaN,
    loopMaxMs: NaN,
    gcPauseMaxMs: NaN,
    gcPerSecond: NaN,
    gcMsPerSecond: NaN,
    passed: false,
    why,
  };
}

function describeStep(s: MediaStep): string {
  const clients =
    s.clientFramesPerCall === null ? '' : `, clients got ${s.clientFramesPerCall.toFixed(1)} frames/s each`;
  return (
    `${s.calls} calls: ${s.passed ? 'held' : `FAILED (${s.why})`} — send pacing p99 ${s.sendP99Ms.toFixed(1)} ms ` +
    `(max ${s.sendMaxMs.toFixed(1)}), at the callers p99 ${s.pacingP99Ms.toFixed(1)} ms (max ${s.pacingMaxMs.toFixed(1)}), ` +
    `${s.lost} lost of ${s.received} received, ${s.hearing} callers hearing, ` +
    `CPU ${s.cpuPerCall.toFixed(2)} ms/s per call, RSS ${s.rssPerCallMb.toFixed(2)} MB per call${clients}; ` +
    `its loop delay p99 ${s.loopP99Ms.toFixed(1)} ms (max ${s.loopMaxMs.toFixed(1)}), GC ${s.gcPerSecond.toFixed(1)}/s ` +
    `taking ${s.gcMsPerSecond.toFixed(1)} ms/s, longest pause ${s.gcPauseMaxMs.toFixed(1)} ms; caller process loop delay p99 ${s.peerLoopDelayP99Ms.toFixed(1)} ms`
  );
}

async function spawnServer(env: Record<string, string>, nodeArgs: string[]): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const child = spawnNode('src/main.mjs', { HOST: '127.0.0.1', PORT: String(port), ...env }, nodeArgs);
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(child, url);
  return { child, url };
}

/** callgate: META number, Graph stand-in = the peers process, accept without SDP, a talk session per call. */
export async function mediaCallgate(
  ctx: MediaContext,
  serverEnv: Record<string, string>,
  nodeArgs: string[],
): Promise<MediaRun> {
  const peers = await spawnListening('bench/media-peers.ts');
  ctx.children.push(peers.child);
  // BENCH_MEDIA_CLIENTS=listen: clients that only listen (children get no environment but what they are given).
  const mode = process.env.BENCH_MEDIA_CLIENTS;
  const clients = await spawnListening('bench/media-clients.ts', mode ? { BENCH_MEDIA_CLIENTS: mode } : {});
  ctx.children.push(clients.child);
  const dataDir = join(ctx.tmp, 'media-data');
  const tenantKey = createTenantKey(dataDir);
  const env = {
    ...serverEnv,
    DATA_DIR: dataDir,
    META_GRAPH_BASE_URL: peers.url,
    MEDIA_MAX_SESSIONS: '10000',
    // The ramp measures how pacing degrades; admission by pacing would refuse the calls of the steps past it.
    MEDIA_MAX_LATE_PERCENT: '0',
    MEDIA_PUBLIC_IP: '127.0.0.1',
    // The server's default (MEDIA_WORKERS=0: sessions on the API's thread) unless the run sets MEDIA_WORKERS.
    ...(process.env.MEDIA_WORKERS ? { MEDIA_WORKERS: process.env.MEDIA_WORKERS } : {}),
    NODE_OPTIONS: withProbe(serverEnv.NODE_OPTIONS),
  };
  const server = await spawnServer(env, nodeArgs);
  ctx.children.push(server.child);
  const numberKey = await createMetaNumber(ctx.agent, server.url, tenantKey);
  const api = { 'x-api-key': numberKey };
  await sleep(1000);
  const target: Target = {
    pid: server.child.pid,
    sends: sendProbe(server.child),
    async addCalls(offers, acceptedAt) {
      for (let i = 0; i < offers.length; i += WEBHOOK_BATCH) {
        const batch = offers.slice(i, i + WEBHOOK_BATCH);
        const { body, headers } = metaWebhook(
          batch.map((o) => o.id),
          batch.map((o) => o.sdp),
        );
        await post(ctx, `${server.url}/providers/meta/webhook`, JSON.parse(body), headers);
      }
      const wsUrls: string[] = [];
      const acceptMs: number[] = [];
      await pool(offers, ACCEPT_CONCURRENCY, async ({ id }) => {
        acceptedAt.set(id, Date.now());
        await post(ctx, `${server.url}/v1/calls/${encodeURIComponent(id)}/accept`, {}, api);
        acceptMs.push(Date.now() - (acceptedAt.get(id) ?? 0));
        const session = await post<{ wsUrl: string }>(
          ctx,
          `${server.url}/v1/calls/${encodeURIComponent(id)}/realtime-session`,
          { mode: 'talk' },
          api,
        );
        wsUrls.push(session.wsUrl);
      });
      await post(ctx, `${clients.url}/_connect`, { urls: wsUrls });
      ctx.note(
        `callgate media: ${offers.length} accepts answered in p50 ${percentile(acceptMs, 50)} ms, ` +
          `p99 ${percentile(acceptMs, 99)} ms (${ACCEPT_CONCURRENCY} at a time)`,
      );
    },
    clientWindow: () => post<{ received: number; seconds: number }>(ctx, `${clients.url}/_window`, {}),
  };
  try {
    return await ramp(ctx, 'callgate media', peers.url, target, Infinity);
  } finally {
    await post(ctx, `${clients.url}/_close`, {}).catch(() => undefined);
    await post(ctx, `${peers.url}/_close`, {}).catch(() => undefined);
    for (const child of [server.child, clients.child, peers.child]) {
      await child.stop();
      ctx.children.splice(ctx.children.indexOf(child), 1);
    }
  }
}

/** The baseline: the same caller peers, each answered by a bare werift echo, ramped to at most maxCalls. */
export async function mediaBaseline(ctx: MediaContext, maxCalls: number): Promise<MediaRun> {
  const peers = await spawnListening('bench/media-peers.ts');
  ctx.children.push(peers.child);
  const echo = await spawnListening('bench/media-baseline.ts', { NODE_OPTIONS: withProbe() });
  ctx.children.push(echo.child);
  await sleep(1000);
  const target: Target = {
    pid: echo.child.pid,
    sends: sendProbe(echo.child),
    async addCalls(offers, acceptedAt) {
      await pool(offers, ACCEPT_CONCURRENCY, async ({ id, sdp }) => {
        acceptedAt.set(id, Date.now());
        const answer = await post<{ sdp: string }>(ctx, `${echo.url}/_offer`, { sdp });
        await post(ctx, `${peers.url}/_answer`, { id, sdp: answer.sdp });
      });
    },
    clientWindow: async () => null,
  };
  try {
    return await ramp(ctx, 'baseline media', peers.url, target, maxCalls);
  } finally {
    await post(ctx, `${peers.url}/_close`, {}).catch(() => undefined);
    await post(ctx, `${echo.url}/_close`, {}).catch(() => undefined);
    for (const child of [echo.child, peers.child]) {
      await child.stop();
      ctx.children.splice(ctx.children.indexOf(child), 1);
    }
  }
}

/** The last step that passed (or a row of NaN when none did). */
function held(run: MediaRun): MediaStep | undefined {
  return run.steps.filter((s) => s.passed).at(-1);
}

/** At a given count: the step of that run with that many calls. */
function at(run: MediaRun, calls: number | undefined): MediaStep | undefined {
  return run.steps.find((s) => s.calls === calls);
}

export function mediaRows(c: MediaRun, b: MediaRun): Row[] {
  // The costs at the largest count held; when none was, at the first step tried, so the costs still show.
  const top = held(c) ?? c.steps[0];
  const n = top?.calls;
  const base = at(b, n);
  const v = (s: MediaStep | undefined, f: (s: MediaStep) => number) => (s ? f(s) : NaN);
  const bHeld = held(b);
  return [
    {
      metric: `media calls held (send p99 ≤ ${PACING_P99_MS} ms, no loss)`,
      unit: 'calls',
      callgate: held(c)?.calls ?? 0,
      baseline: bHeld?.calls ?? 0,
      digits: 0,
      target: '≥ 100',
      pass: (held(c)?.calls ?? 0) >= 100,
    },
    {
      metric: `media send pacing p99 @ ${n ?? '—'} calls`,
      unit: 'ms',
      callgate: v(top, (s) => s.sendP99Ms),
      baseline: v(base, (s) => s.sendP99Ms),
      digits: 1,
      target: `≤ ${PACING_P99_MS} ms`,
      pass: top ? top.sendP99Ms <= PACING_P99_MS && top.passed : false,
    },
    {
      metric: `media arrival pacing p99 at callers @ ${n ?? '—'}`,
      unit: 'ms',
      callgate: v(top, (s) => s.pacingP99Ms),
      baseline: v(base, (s) => s.pacingP99Ms),
      digits: 1,
      target: '—',
      pass: null,
    },
    {
      metric: `media server CPU per call @ ${n ?? '—'} calls`,
      unit: 'ms/s',
      callgate: v(top, (s) => s.cpuPerCall),
      baseline: v(base, (s) => s.cpuPerCall),
      digits: 2,
      target: '—',
      pass: null,
    },
    {
      metric: `media RSS per call @ ${n ?? '—'} calls`,
      unit: 'MB',
      callgate: v(top, (s) => s.rssPerCallMb),
      baseline: v(base, (s) => s.rssPerCallMb),
      digits: 2,
      target: '—',
      pass: null,
    },
    {
      metric: 'media accept → first audio, first call (cold)',
      unit: 'ms',
      callgate: c.soloFirstAudioMs[0] ?? NaN,
      baseline: b.soloFirstAudioMs[0] ?? NaN,
      digits: 0,
      target: '—',
      pass: null,
    },
    {
      metric: `media accept → first audio, alone, p50 of ${SOLO_CALLS - 1}`,
      unit: 'ms',
      callgate: percentile(c.soloFirstAudioMs.slice(1), 50),
      baseline: percentile(b.soloFirstAudioMs.slice(1), 50),
      digits: 0,
      target: '—',
      pass: null,
    },
    {
      metric: `media accept → first audio, alone, max of ${SOLO_CALLS - 1}`,
      unit: 'ms',
      callgate: Math.max(...c.soloFirstAudioMs.slice(1)),
      baseline: Math.max(...b.soloFirstAudioMs.slice(1)),
      digits: 0,
      target: '≤ 300 ms',
      pass: Math.max(...c.soloFirstAudioMs.slice(1)) <= 300,
    },
    {
      metric: `media accept → first audio, ramp (${ACCEPT_CONCURRENCY} at a time) p50`,
      unit: 'ms',
      callgate: percentile(c.firstAudioMs, 50),
      baseline: percentile(b.firstAudioMs, 50),
      digits: 0,
      target: '—',
      pass: null,
    },
    {
      metric: `media accept → first audio, ramp p99`,
      unit: 'ms',
      callgate: percentile(c.firstAudioMs, 99),
      baseline: percentile(b.firstAudioMs, 99),
      digits: 0,
      target: '—',
      pass: null,
    },
  ];
}

/** What made the ramp stop, for the report. */
export function mediaVerdict(c: MediaRun): string {
  const failed = c.steps.find((s) => !s.passed);
  const top = held(c);
  return failed
    ? `callgate held ${top?.calls ?? 0} calls; at ${failed.calls}: ${failed.why}`
    : `callgate held every step up to ${top?.calls ?? 0} calls (the ramp's end)`;
}
