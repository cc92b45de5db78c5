// Helpers shared by the benchmark: child processes, loopback HTTP, an open-loop paced load generator, percentiles.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

export const ROOT = join(import.meta.dirname, '..');
/** The Node running the benchmark (Node 24 under `npm run`): children run on the same one. */
export const NODE = process.execPath;

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** The last lines the child wrote (stdout and stderr), for error messages. */
  tail: string[];
  stop(): Promise<void>;
}

/** Spawns `node <script>` from the repository root with exactly the given environment (plus PATH). */
export function spawnNode(script: string, env: Record<string, string>, args: string[] = []): Child {
  const proc = spawn(NODE, [...args, join(ROOT, script)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  for (const stream of [proc.stdout!, proc.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 40) {
        tail.shift();
      }
    });
  }
  return {
    proc,
    pid: proc.pid!,
    tail,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          return resolve();
        }
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        proc.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        proc.kill('SIGTERM');
      }),
  };
}

/** Spawns a helper that prints "LISTENING <port>" and waits for that line. */
export async function spawnListening(
  script: string,
  env: Record<string, string> = {},
): Promise<{ child: Child; url: string }> {
  const child = spawnNode(script, { HOST: '127.0.0.1', PORT: '0', ...env });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start:\n${child.tail.join('\n')}`)), 15_000);
    child.proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}:\n${child.tail.join('\n')}`));
    });
    createInterface({ input: child.proc.stdout! }).on('line', (line) => {
      const m = /^LISTENING (\d+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  child.proc.removeAllListeners('exit');
  return { child, url: `http://127.0.0.1:${port}` };
}

/** A port nobody listens on right now (the child is told to use it, so its start can be timed by polling). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls GET <url>/healthz every millisecond until it answers 200; resolves with performance.now() of that answer. */
export async function waitHealthy(child: Child, url: string, timeoutMs = 20_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (child.proc.exitCode !== null) {
      throw new Error(`server exited with ${child.proc.exitCode}:\n${child.tail.join('\n')}`);
    }
    const status = await new Promise<number>((resolve) => {
      const req = http.get(`${url}/healthz`, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', () => resolve(0));
    });
    if (status === 200) {
      return performance.now();
    }
    if (performance.now() > deadline) {
      throw new Error(`server not healthy after ${timeoutMs} ms:\n${child.tail.join('\n')}`);
    }
    await sleep(1);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resident set size of a process, in MiB, from /proc/<pid>/status (VmRSS, or VmHWM for its peak). */
export function memoryMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) {
    throw new Error(`no ${field} in /proc/${pid}/status`);
  }
  return Number(m[1]) / 1024;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One request over the given agent (keep-alive), body as JSON or raw string. */
export function request(
  agent: http.Agent,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; signal?: AbortSignal } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
    const headers: Record<string, string> = { ...opts.headers };
    if (body) {
      headers['content-length'] = String(body.length);
    }
    const req = http.request(
      url,
      { method: opts.method ?? 'GET', agent, headers, ...(opts.signal ? { signal: opts.signal } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface PacedResult {
  /**
   * Per scheduled request: from its due time to the end of its answer, in ms (no coordinated omission);
   * Infinity for a request never sent (past the deadline) or never answered in time.
   */
  latenciesMs: number[];
  /** Due time of request i as epoch ms (performance.timeOrigin-based, comparable across processes). */
  scheduledAt: number[];
  statuses: Map<number, number>;
  /** Requests sent, answered, and failed at the socket level. */
  sent: number;
  answered: number;
  errors: number;
  /** From the first due time to the last answer (or the give-up time). */
  durationMs: number;
}

/**
 * Open-loop load at a fixed rate: request i is due at start + i/rate and is sent when due, whether or not
 * earlier ones have answered (autocannon's rate option instead sends each second's quota in a burst at the
 * top of the second). Latency is measured from the due time. Nothing is sent after `sendForMs`; whatever has
 * not answered `graceMs` later counts as never answered and is aborted (through `signal`), so an overloaded
 * server can neither stall the run nor keep working on this phase's queue during the next one.
 */
export async function paced(opts: {
  rate: number;
  count: number;
  send: (i: number, signal: AbortSignal) => Promise<number>;
  sendForMs?: number;
  graceMs?: number;
}): Promise<PacedResult> {
  const interval = 1000 / opts.rate;
  const sendForMs = opts.sendForMs ?? (opts.count / opts.rate) * 1000 * 2 + 1000;
  const graceMs = opts.graceMs ?? 10_000;
  const latenciesMs = new Array<number>(opts.count).fill(Infinity);
  const scheduledAt = new Array<number>(opts.count).fill(NaN);
  const statuses = new Map<number, number>();
  let sent = 0;
  let answered = 0;
  let errors = 0;
  const start = performance.now() + 5;
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // one listener per request in flight
  return new Promise((resolve) => {
    let next = 0;
    let done = false;
    let lastAnswer = start;
    const finish = () => {
      if (done) {
        return;
      }
      done = true;
      clearTimeout(giveUp);
      abort.abort();
      resolve({ latenciesMs, scheduledAt, statuses, sent, answered, errors, durationMs: lastAnswer - start });
    };
    const giveUp = setTimeout(
      () => {
        lastAnswer = performance.now();
        finish();
      },
      5 + sendForMs + graceMs,
    );
    const settled = () => {
      if (next === opts.count || performance.now() - start > sendForMs) {
        if (answered + errors === sent) {
          finish();
        }
      }
    };
    const fire = (i: number) => {
      const due = start + i * interval;
      scheduledAt[i] = performance.timeOrigin + due;
      sent++;
      opts
        .send(i, abort.signal)
        .then(
          (status) => {
            if (done) {
              return;
            }
            latenciesMs[i] = performance.now() - due;
            lastAnswer = performance.now();
            answered++;
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          },
          () => {
            errors++;
          },
        )
        .finally(settled);
    };
    const tick = () => {
      const now = performance.now();
      if (now - start > sendForMs) {
        settled();
        return;
      }
      while (next < opts.count && start + next * interval <= now) {
        fire(next++);
      }
      if (next < opts.count) {
        setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
      }
    };
    setTimeout(tick, 5);
  });
}

/** CPU time (user + system) a process has used so far, in ms (Linux clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Nearest-rank percentile of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) {
    return NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** A tenant made with the CLI on the given store (as an operator would); answers its API key. */
export function createTenantKey(dataDir: string, env: Record<string, string> = {}): string {
  const cli = spawnSync(NODE, [join(ROOT, 'src/cli/main.ts'), 'tenants', 'create', '--name', 'Bench'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, ...env },
    encoding: 'utf8',
  });
  if (cli.status !== 0) {
    throw new Error(`tenants create failed: ${cli.stderr}`);
  }
  return (JSON.parse(cli.stdout) as { apiKey: { key: string } }).apiKey.key;
}

/** Server settings that take rate limiting out of a measurement (the bench measures the server, not its limiter). */
export const UNLIMITED_RATE_LIMITS = {
  RATE_LIMIT_PER_SECOND: '1000000',
  RATE_LIMIT_BURST: '1000000',
  TERMINATE_RATE_LIMIT_PER_SECOND: '1000000',
  TERMINATE_RATE_LIMIT_BURST: '1000000',
} as const;
