// `npm run soak [-- --minutes N]`: a bounded soak of mixed traffic against the real server (node src/main.mjs on the
// embedded store, loopback only), printing its RSS and V8 heap over time (issue #19: "RSS plateaus, or find and fix
// the growth"). Traffic, all at once for N minutes (default 10): signed Meta connect webhooks (new calls), peer
// hang-up webhooks, terminates (half with an Idempotency-Key), reads (list and get), live event streams that
// reconnect, and webhook deliveries of every event to a local receiver. Then the traffic stops and the server idles,
// still sampled, to see what is given back.
//
// Options: --minutes N, --sample-seconds S (default 15), --idle-seconds S (default 60), --rate R (connects per second,
// default 40; the other flows scale with it), --snapshots (heap snapshots at the first sample after warm-up and at
// the end, written to a temp directory; taken anyway when RSS grows more than 20 % over the run; compare two with
// bench/heap-diff.ts), --node-options "<flags>" (added to the server's NODE_OPTIONS, e.g. --max-semi-space-size=8).
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  type Child,
  cpuMs,
  freePort,
  memoryMb,
  NODE,
  ROOT,
  request,
  sleep,
  spawnListening,
  spawnNode,
  UNLIMITED_RATE_LIMITS,
  waitHealthy,
} from './lib.ts';
import { createMetaNumber, DISPLAY_NUMBER, signedCallsWebhook } from './meta-webhook.ts';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'sample-seconds': { type: 'string', default: '15' },
    'idle-seconds': { type: 'string', default: '60' },
    rate: { type: 'string', default: '40' },
    snapshots: { type: 'boolean', default: false },
    'node-options': { type: 'string', default: '' },
  },
});
const MINUTES = Number(args.minutes);
const SAMPLE_MS = Number(args['sample-seconds']) * 1000;
const IDLE_MS = Number(args['idle-seconds']) * 1000;
const RATE = Number(args.rate);
if (!(MINUTES > 0) || !(SAMPLE_MS > 0) || !(IDLE_MS >= 0) || !(RATE > 0)) {
  throw new Error('--minutes, --sample-seconds, --rate must be positive numbers');
}

/** No flow keeps more than this many requests open: a slow server sees less load, never an unbounded pile. */
const MAX_IN_FLIGHT = 64;
const STREAMS = 4;
const STREAM_LIFETIME_MS = 20_000;

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const log = (line: string) => process.stdout.write(`${line}\n`);

// ───────────────────────────── Meta webhooks, signed as Meta signs them ─────────────────────────────

let peer = 0;
function metaWebhook(call: Record<string, unknown>): { body: string; headers: Record<string, string> } {
  const from = String(5511900000000 + peer++);
  const timestamp = String(Math.floor(Date.now() / 1000));
  return signedCallsWebhook(
    [{ profile: { name: 'Soak' }, wa_id: from }],
    [{ from, to: DISPLAY_NUMBER, timestamp, ...call }],
  );
}

const connect = (wacid: string) =>
  metaWebhook({
    id: wacid,
    event: 'connect',
    direction: 'USER_INITIATED',
    session: { sdp_type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' },
  });
const hangUp = (wacid: string) =>
  metaWebhook({ id: wacid, event: 'terminate', direction: 'USER_INITIATED', status: 'FAILED' });

// ───────────────────────────── traffic ─────────────────────────────

interface Flow {
  name: string;
  sent: number;
  ok: number;
  failed: number;
  inFlight: number;
}

const flows: Flow[] = [];
function flow(name: string, perSecond: number, send: () => Promise<number> | null): () => void {
  const f: Flow = { name, sent: 0, ok: 0, failed: 0, inFlight: 0 };
  flows.push(f);
  const interval = 1000 / perSecond;
  let due = performance.now();
  let timer: NodeJS.Timeout;
  const tick = () => {
    const now = performance.now();
    while (due <= now) {
      due += interval;
      if (f.inFlight >= MAX_IN_FLIGHT) {
        continue;
      }
      const pending = send();
      if (!pending) {
        continue;
      }
      f.sent++;
      f.inFlight++;
      pending.then(
        (status) => {
          f.inFlight--;
          if (status >= 200 && status < 300) {
            f.ok++;
          } else {
            f.failed++;
          }
        },
        () => {
          f.inFlight--;
          f.failed++;
        },
      );
    }
    timer = setTimeout(tick, Math.max(1, due - performance.now()));
  };
  timer = setTimeout(tick, 1);
  return () => clearTimeout(timer);
}

/** An SSE client that reads and discards, reconnecting every STREAM_LIFETIME_MS; counts the events it saw. */
function stream(url: string, key: string, counters: { events: number; opened: number; open: number }): () => void {
  let stopped = false;
  let current: http.ClientRequest | null = null;
  const open = () => {
    if (stopped) {
      return;
    }
    const req = http.get(`${url}/v1/events/stream`, { headers: { 'x-api-key': key } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        setTimeout(open, 1000);
        return;
      }
      counters.opened++;
      counters.open++;
      res.on('data', (chunk: Buffer) => {
        counters.events += chunk.toString('utf8').split('\nevent: ').length - 1;
      });
      res.on('close', () => {
        counters.open--;
        setTimeout(open, 100);
      });
    });
    req.on('error', () => undefined);
    current = req;
    setTimeout(() => req.destroy(), STREAM_LIFETIME_MS);
  };
  open();
  return () => {
    stopped = true;
    current?.destroy();
  };
}

// ───────────────────────────── the run ─────────────────────────────

interface Sample {
  atS: number;
  phase: 'load' | 'idle';
  rssMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  requests: number;
  failed: number;
  deliveries: number;
}

const mb = (bytes: number) => bytes / 1024 / 1024;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'callgate-soak-'));
  const snapshotDir = mkdtempSync(join(os.tmpdir(), 'callgate-soak-snapshots-'));
  const children: Child[] = [];
  try {
    const meta = await spawnListening('bench/fast-meta.ts');
    children.push(meta.child);
    const receiver = await spawnListening('bench/receiver.ts');
    children.push(receiver.child);

    const cli = spawnSync(NODE, [join(ROOT, 'src/cli/main.ts'), 'tenants', 'create', '--name', 'Soak'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    if (cli.status !== 0) {
      throw new Error(`tenants create failed: ${cli.stderr}`);
    }
    const tenantKey = (JSON.parse(cli.stdout) as { apiKey: { key: string } }).apiKey.key;

    const port = await freePort();
    const server = spawnNode('src/main.mjs', {
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      META_GRAPH_BASE_URL: meta.url,
      WEBHOOK_ALLOW_INSECURE_URLS: 'true',
      LOG_LEVEL: 'warn',
      ...UNLIMITED_RATE_LIMITS,
      NODE_OPTIONS: `--import=${join(ROOT, 'bench/soak-probe.mjs')} ${args['node-options']}`.trim(),
      SOAK_SNAPSHOT_DIR: snapshotDir,
      SOAK_PROBE_MS: String(Math.min(5000, SAMPLE_MS)),
    });
    children.push(server);
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(server, url);
    let heap = { heapUsed: 0, heapTotal: 0, external: 0 };
    const snapshots: string[] = [];
    createInterface({ input: server.proc.stderr ?? process.stdin }).on('line', (line) => {
      if (line.startsWith('SOAK_MEM ')) {
        heap = JSON.parse(line.slice(9));
      } else if (line.startsWith('SOAK_SNAPSHOT ')) {
        snapshots.push(line.slice(14));
      }
    });

    const json = { 'content-type': 'application/json' };
    const key = await createMetaNumber(agent, url, tenantKey);
    const hook = await request(agent, `${url}/v1/webhooks`, {
      method: 'POST',
      headers: { 'x-api-key': key, ...json },
      body: JSON.stringify({ url: `${receiver.url}/hook`, events: ['*'] }),
    });
    if (hook.status !== 201) {
      throw new Error(`webhook creation failed: ${hook.status} ${hook.body}`);
    }

    // Calls move ringing → (terminated by us | hung up by the peer); reads pick recent calls.
    const ringing: string[] = [];
    const recent: string[] = [];
    let nextCall = 0;
    const take = () => ringing.shift() ?? null;
    const post = (path: string, body: { body: string; headers: Record<string, string> }) =>
      request(agent, `${url}${path}`, { method: 'POST', headers: body.headers, body: body.body }).then((r) => r.status);
    const stops = [
      flow('connect webhooks', RATE, () => {
        const wacid = `wacid.soak.${nextCall++}`;
        return post('/providers/meta/webhook', connect(wacid)).then((status) => {
          if (status === 200) {
            ringing.push(wacid);
            recent.push(wacid);
            if (recent.length > 500) {
              recent.shift();
            }
          }
          return status;
        });
      }),
      flow('terminates', RATE * 0.7, () => {
        const wacid = take();
        if (!wacid) {
          return null;
        }
        const idem: Record<string, string> = nextCall % 2 ? { 'idempotency-key': randomUUID() } : {};
        return request(agent, `${url}/v1/calls/${wacid}/terminate`, {
          method: 'POST',
          headers: { 'x-api-key': key, ...idem },
        }).then((r) => r.status);
      }),
      flow('peer hang-ups', RATE * 0.25, () => {
        const wacid = take();
        return wacid ? post('/providers/meta/webhook', hangUp(wacid)) : null;
      }),
      flow('reads', RATE * 4, () => {
        const pick = recent[Math.floor(Math.random() * recent.length)];
        const path = pick && Math.random() < 0.5 ? `/v1/calls/${pick}` : '/v1/calls?limit=20';
        return request(agent, `${url}${path}`, { headers: { 'x-api-key': key } }).then((r) => r.status);
      }),
    ];
    const streamCounters = { events: 0, opened: 0, open: 0 };
    const streamStops = Array.from({ length: STREAMS }, () => stream(url, key, streamCounters));

    let deliveries = 0;
    const drainReceiver = async () => {
      const r = JSON.parse((await request(agent, `${receiver.url}/_records`)).body) as { records: unknown[] };
      deliveries += r.records.length;
    };

    log(
      `soak: ${MINUTES} min of mixed traffic (${RATE} new calls/s), then ${IDLE_MS / 1000} s idle; ` +
        `server pid ${server.pid}${args['node-options'] ? ` (${args['node-options']})` : ''}, ${os.cpus().length} CPUs, ` +
        `load ${os.loadavg()[0]?.toFixed(2)}`,
    );
    log('   t(s) phase   RSS(MB) heapUsed heapTotal external    req/s  failed  deliveries  stream events');
    const samples: Sample[] = [];
    const t0 = performance.now();
    const cpu0 = cpuMs(server.pid);
    let lastRequests = 0;
    let lastAt = t0;
    const sample = async (phase: Sample['phase']) => {
      await drainReceiver();
      const requests = flows.reduce((n, f) => n + f.ok + f.failed, 0);
      const failed = flows.reduce((n, f) => n + f.failed, 0);
      const now = performance.now();
      const s: Sample = {
        atS: Math.round((now - t0) / 1000),
        phase,
        rssMb: memoryMb(server.pid),
        heapUsedMb: mb(heap.heapUsed),
        heapTotalMb: mb(heap.heapTotal),
        externalMb: mb(heap.external),
        requests,
        failed,
        deliveries,
      };
      const rate = ((requests - lastRequests) / (now - lastAt)) * 1000;
      lastRequests = requests;
      lastAt = now;
      samples.push(s);
      log(
        `${String(s.atS).padStart(7)} ${phase.padEnd(5)} ${s.rssMb.toFixed(1).padStart(9)} ${s.heapUsedMb.toFixed(1).padStart(8)} ` +
          `${s.heapTotalMb.toFixed(1).padStart(9)} ${s.externalMb.toFixed(1).padStart(8)} ${rate.toFixed(0).padStart(8)} ` +
          `${String(failed).padStart(7)} ${String(deliveries).padStart(11)} ${String(streamCounters.events).padStart(14)}`,
      );
      return s;
    };

    const loadEnd = t0 + MINUTES * 60_000;
    let snapshotted = false;
    while (performance.now() < loadEnd) {
      await sleep(Math.min(SAMPLE_MS, loadEnd - performance.now()));
      await sample('load');
      if (args.snapshots && !snapshotted && performance.now() - t0 > 60_000) {
        server.proc.kill('SIGUSR2');
        snapshotted = true;
      }
    }
    for (const stop of [...stops, ...streamStops]) {
      stop();
    }
    const loadCpuMs = cpuMs(server.pid) - cpu0;
    const loadRequests = lastRequests;
    const idleEnd = performance.now() + IDLE_MS;
    while (performance.now() < idleEnd) {
      await sleep(Math.min(SAMPLE_MS, idleEnd - performance.now()));
      await sample('idle');
    }

    // Steady state: compare the second sixth of the loaded run (warm JIT, caches full) with its last sixth.
    const load = samples.filter((s) => s.phase === 'load');
    const part = Math.max(1, Math.floor(load.length / 6));
    const avg = (xs: Sample[], f: (s: Sample) => number) => xs.reduce((n, s) => n + f(s), 0) / Math.max(1, xs.length);
    const early = load.slice(part, part * 2);
    const late = load.slice(-part);
    const idle = samples.filter((s) => s.phase === 'idle');
    const growth = avg(late, (s) => s.rssMb) / avg(early, (s) => s.rssMb) - 1;
    if (args.snapshots || growth > 0.2) {
      server.proc.kill('SIGUSR2');
      await sleep(5000);
    }
    log('');
    log(`requests: ${lastRequests} answered (${flows.map((f) => `${f.name} ${f.ok}/${f.sent}`).join(', ')})`);
    log(
      `server CPU under load: ${(loadCpuMs / 1000).toFixed(1)} s, ` +
        `${(loadCpuMs / Math.max(1, loadRequests)).toFixed(2)} ms per request`,
    );
    log(
      `deliveries received: ${deliveries}; streams opened: ${streamCounters.opened}, events read: ${streamCounters.events}`,
    );
    log(
      `RSS: early ${avg(early, (s) => s.rssMb).toFixed(1)} MB → late ${avg(late, (s) => s.rssMb).toFixed(1)} MB ` +
        `(${(growth * 100).toFixed(1)} %), idle end ${idle.at(-1)?.rssMb.toFixed(1) ?? '-'} MB; ` +
        `heap used: early ${avg(early, (s) => s.heapUsedMb).toFixed(1)} → late ${avg(late, (s) => s.heapUsedMb).toFixed(1)} MB, ` +
        `idle end ${idle.at(-1)?.heapUsedMb.toFixed(1) ?? '-'} MB; peak RSS ${memoryMb(server.pid, 'VmHWM').toFixed(1)} MB`,
    );
    if (snapshots.length) {
      log(`heap snapshots: ${snapshots.join(' ')}`);
    } else {
      rmSync(snapshotDir, { recursive: true, force: true });
    }
  } finally {
    for (const child of children.reverse()) {
      await child.stop();
    }
    agent.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
