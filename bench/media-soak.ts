// `npm run soak:media [-- --minutes N]`: a churn of server-media calls against the real server (node src/main.mjs on
// the embedded store, loopback only), as an IVR running day and night sees it, sampling what a leak would grow: RSS,
// V8 heap, open file descriptors, UDP sockets, the engine's sessions and realtime sockets. For N minutes (default 5)
// --calls (default 10) callers keep calling: each call is announced by a signed Meta `connect` webhook, accepted
// without an SDP (server media), then, in turn, gets a realtime `talk` session with a client that talks
// (bench/media-clients.ts), a `play` of a short WAV served here, or nothing; every third call is recorded. After
// 3–6 s it ends, by a terminate or by the caller hanging up (the Meta `terminate` webhook, its peer closed). The
// callers are werift peers that double as the Graph stand-in (bench/media-peers.ts). Then the churn stops and the
// server idles, still sampled: everything a call held should be given back.
//
// Options: --minutes N, --calls C, --sample-seconds S (default 15), --idle-seconds S (default 45), --snapshots (heap
// snapshots after the first minute and at the end of the idle, compared with bench/heap-diff.ts), --node-options
// "<flags>" (added to the server's NODE_OPTIONS, e.g. --max-semi-space-size=8).
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { tone } from '../src/media/audio/tone.ts';
import { writeWav } from '../src/media/audio/wav.ts';
import {
  type Child,
  createTenantKey,
  freePort,
  memoryMb,
  ROOT,
  request,
  sleep,
  spawnListening,
  spawnNode,
  UNLIMITED_RATE_LIMITS,
  waitHealthy,
} from './lib.ts';
import { createMetaNumber, DISPLAY_NUMBER, metaWebhook, signedCallsWebhook } from './meta-webhook.ts';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    calls: { type: 'string', default: '10' },
    'sample-seconds': { type: 'string', default: '15' },
    'idle-seconds': { type: 'string', default: '45' },
    snapshots: { type: 'boolean', default: false },
    'node-options': { type: 'string', default: '' },
  },
});
const MINUTES = Number(args.minutes);
const CONCURRENT = Number(args.calls);
const SAMPLE_MS = Number(args['sample-seconds']) * 1000;
const IDLE_MS = Number(args['idle-seconds']) * 1000;
if (!(MINUTES > 0) || !(CONCURRENT > 0) || !(SAMPLE_MS > 0) || !(IDLE_MS >= 0)) {
  throw new Error('--minutes, --calls, --sample-seconds must be positive numbers');
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const log = (line: string) => process.stdout.write(`${line}\n`);
const mb = (bytes: number) => bytes / 1024 / 1024;

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<string> {
  const res = await request(agent, url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`POST ${url} → ${res.status} ${res.body.slice(0, 200)}`);
  }
  return res.body;
}

/** Open descriptors of a process, and how many of them are UDP sockets (inodes listed in /proc/net/udp{,6}). */
function descriptors(pid: number): { fds: number; udp: number } {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode) {
        inodes.add(inode);
      }
    }
  }
  let fds = 0;
  let udp = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds++;
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match && inodes.has(match[1] ?? '')) {
        udp++;
      }
    } catch {
      // closed between the listing and the read
    }
  }
  return { fds, udp };
}

const gauge = (metrics: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'callgate-media-soak-'));
  const snapshotDir = mkdtempSync(join(os.tmpdir(), 'callgate-media-soak-snapshots-'));
  const children: Child[] = [];
  // The prompt `play` fetches: 1.5 s of 660 Hz, 8 kHz mono WAV, served on loopback.
  const wav = writeWav({ sampleRate: 8000, samples: tone(660, 1.5, 8000) });
  const media = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav));
  await new Promise<void>((resolve) => media.listen(0, '127.0.0.1', resolve));
  const mediaUrl = `http://127.0.0.1:${(media.address() as { port: number }).port}/prompt.wav`;
  try {
    const peers = await spawnListening('bench/media-peers.ts');
    children.push(peers.child);
    const clients = await spawnListening('bench/media-clients.ts');
    children.push(clients.child);
    const tenantKey = createTenantKey(dataDir);
    const port = await freePort();
    const server = spawnNode('src/main.mjs', {
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      META_GRAPH_BASE_URL: peers.url,
      MEDIA_PUBLIC_IP: '127.0.0.1',
      // Admission by pacing would refuse calls whenever the shared machine stalls the process; this measures leaks.
      MEDIA_MAX_LATE_PERCENT: '0',
      // The play URL is on loopback: the same switch that allows local webhook receivers lifts the address check.
      WEBHOOK_ALLOW_INSECURE_URLS: 'true',
      LOG_LEVEL: 'warn',
      ...UNLIMITED_RATE_LIMITS,
      ...(process.env.MEDIA_WORKERS ? { MEDIA_WORKERS: process.env.MEDIA_WORKERS } : {}),
      NODE_OPTIONS: `--import=${join(ROOT, 'bench/soak-probe.mjs')} ${args['node-options']}`.trim(),
      SOAK_SNAPSHOT_DIR: snapshotDir,
      SOAK_PROBE_MS: String(Math.min(5000, SAMPLE_MS)),
    });
    children.push(server);
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(server, url);
    let heap = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
    const snapshots: string[] = [];
    createInterface({ input: server.proc.stderr ?? process.stdin }).on('line', (line) => {
      if (line.startsWith('SOAK_MEM ')) {
        heap = JSON.parse(line.slice(9));
      } else if (line.startsWith('SOAK_SNAPSHOT ')) {
        snapshots.push(line.slice(14));
      }
    });
    const api = { 'x-api-key': await createMetaNumber(agent, url, tenantKey) };

    const counts = { started: 0, ended: 0, talk: 0, play: 0, recorded: 0, hungUp: 0, failed: 0 };
    const errors = new Map<string, number>();
    let stopping = false;
    const oneCall = async (n: number) => {
      const body = JSON.parse(await post(`${peers.url}/_offers`, { count: 1 })) as {
        offers: { id: string; sdp: string }[];
      };
      const { id, sdp } = body.offers[0] as { id: string; sdp: string };
      const call = `${url}/v1/calls/${encodeURIComponent(id)}`;
      counts.started++;
      let hangUp = n % 4 === 3;
      try {
        const hook = metaWebhook([id], [sdp]);
        await post(`${url}/providers/meta/webhook`, hook.body, hook.headers);
        await post(`${call}/accept`, n % 3 === 0 ? { record: true } : {}, api);
        counts.recorded += n % 3 === 0 ? 1 : 0;
        if (n % 3 === 1) {
          const { wsUrl } = JSON.parse(await post(`${call}/realtime-session`, { mode: 'talk' }, api));
          await post(`${clients.url}/_connect`, { urls: [wsUrl] });
          counts.talk++;
        } else if (n % 3 === 2) {
          await post(`${call}/play`, { mediaUrl }, api);
          counts.play++;
        }
        await sleep(3000 + Math.random() * 3000);
      } catch (err) {
        counts.failed++;
        const what = (err as Error).message.replace(/\/v1\/calls\/[^/ ]+/, '/v1/calls/…').slice(0, 300);
        errors.set(what, (errors.get(what) ?? 0) + 1);
        hangUp = true;
        await sleep(1000);
      }
      if (hangUp) {
        // The caller hangs up: its phone goes away and Meta says so.
        await post(`${peers.url}/_hangup`, { id }).catch(() => undefined);
        const from = String(5511900000000 + n);
        const hook = signedCallsWebhook(
          [{ profile: { name: 'Soak' }, wa_id: from }],
          [
            {
              id,
              from,
              to: DISPLAY_NUMBER,
              timestamp: String(Math.floor(Date.now() / 1000)),
              event: 'terminate',
              direction: 'USER_INITIATED',
              status: 'COMPLETED',
            },
          ],
        );
        await post(`${url}/providers/meta/webhook`, hook.body, hook.headers).catch(() => undefined);
        counts.hungUp++;
      } else {
        await post(`${call}/terminate`, {}, api).catch(() => undefined);
      }
      counts.ended++;
    };
    let next = 0;
    const callers = Array.from({ length: CONCURRENT }, async () => {
      while (!stopping) {
        await oneCall(next++);
      }
    });

    log(
      `media soak: ${MINUTES} min of ${CONCURRENT} concurrent server-media calls churning, then ${IDLE_MS / 1000} s ` +
        `idle; server pid ${server.pid}${args['node-options'] ? ` (${args['node-options']})` : ''}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]?.toFixed(2)}`,
    );
    log(
      '   t(s) phase  RSS(MB) heapUsed heapTotal external arrayBuf   fds  udp sessions rt-sockets  calls-ended  failed',
    );
    const t0 = performance.now();
    const sample = async (phase: string) => {
      const metrics = (await request(agent, `${url}/metrics`)).body;
      const { fds, udp } = descriptors(server.pid);
      log(
        `${String(Math.round((performance.now() - t0) / 1000)).padStart(7)} ${phase.padEnd(5)} ` +
          `${memoryMb(server.pid).toFixed(1).padStart(8)} ${mb(heap.heapUsed).toFixed(1).padStart(8)} ` +
          `${mb(heap.heapTotal).toFixed(1).padStart(9)} ` +
          `${mb(heap.external).toFixed(1).padStart(8)} ${mb(heap.arrayBuffers).toFixed(1).padStart(8)} ` +
          `${String(fds).padStart(5)} ${String(udp).padStart(4)} ` +
          `${String(gauge(metrics, 'callgate_media_sessions')).padStart(8)} ` +
          `${String(gauge(metrics, 'callgate_media_realtime_sockets')).padStart(10)} ` +
          `${String(counts.ended).padStart(12)} ${String(counts.failed).padStart(7)}`,
      );
    };
    await sample('start');
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
    stopping = true;
    await Promise.all(callers);
    const idleEnd = performance.now() + IDLE_MS;
    while (performance.now() < idleEnd) {
      await sleep(Math.min(SAMPLE_MS, idleEnd - performance.now()));
      await sample('idle');
    }
    if (args.snapshots) {
      server.proc.kill('SIGUSR2');
      await sleep(5000);
    }
    const recordings = readdirSync(join(dataDir, 'recordings'), { recursive: true }).length;
    log('');
    log(
      `calls: ${counts.started} started, ${counts.ended} ended (${counts.hungUp} by the caller hanging up), ` +
        `${counts.talk} with a talking realtime client, ${counts.play} with a play, ${counts.recorded} recorded ` +
        `(${recordings} entries under recordings/), ${counts.failed} failed; peak RSS ${memoryMb(server.pid, 'VmHWM').toFixed(1)} MB`,
    );
    for (const [what, n] of errors) {
      log(`  ${n}× ${what}`);
    }
    if (snapshots.length) {
      log(`heap snapshots: ${snapshots.join(' ')}`);
    } else {
      rmSync(snapshotDir, { recursive: true, force: true });
    }
  } finally {
    for (const child of children.reverse()) {
      await child.stop();
    }
    media.close();
    agent.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
