// Run by `npm install` (postinstall): starts the server once the way `npm start` does, on a throwaway embedded store
// and an ephemeral loopback port, then stops it. Every module a start loads is then type-stripped and compiled in
// Node's compile cache (src/compile-cache.mjs), so the first real start skips that work like every later one.
// Never fails the install: on a Node that cannot run TypeScript, or on any error, it says why and leaves it be.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { compileCacheDir, enableCompileCache } from '../src/compile-cache.mjs';

const say = (message) => process.stderr.write(`callgate: compile cache ${message}\n`);
const ROOT = join(import.meta.dirname, '..');

/**
 * `node src/main.mjs` until it says it is ready, then one request (what the first request loads, the metrics
 * registry among it, is compiled too), then SIGTERM; resolves with why it failed, or null.
 */
function startOnce(dataDir) {
  const env = {
    ...process.env,
    NODE_COMPILE_CACHE: compileCacheDir,
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    WORKERS: 'in-process',
  };
  // The start is the embedded one whatever this shell's environment says.
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'SECRET_KEY', 'NODE_OPTIONS']) {
    delete env[name];
  }
  const child = spawn(process.execPath, [join(ROOT, 'src/main.mjs')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = [];
  let url = null;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('the server did not start within 30 s');
    }, 30_000);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        url ??= /Server listening at (http:\/\/[^\s"]+)/.exec(line)?.[1] ?? null;
        if (line.includes('callgate ready')) {
          const stop = () => child.kill('SIGTERM');
          if (url) {
            fetch(`${url}/healthz`).then(stop, stop);
          } else {
            stop();
          }
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? null : `the server exited with ${code}: ${output.slice(-3).join(' | ')}`);
    });
  });
}

if (!process.features.typescript) {
  say(`not filled: Node ${process.version} cannot run TypeScript (npm start brings Node 24)`);
  process.exit(0);
}
const { status, message } = enableCompileCache();
const { ENABLED, ALREADY_ENABLED } = module.constants.compileCacheStatus;
if (status !== ENABLED && status !== ALREADY_ENABLED) {
  say(`not filled: ${message ?? 'disabled'}`);
  process.exit(0);
}
let dataDir = null;
try {
  dataDir = mkdtempSync(join(tmpdir(), 'callgate-warm-'));
  const failure = await startOnce(dataDir);
  if (failure) {
    throw new Error(failure);
  }
  // Loaded only with PostgreSQL, Redis or as `callgate worker`: compiled here too, for those layouts.
  await Promise.all([
    import('../src/store/postgres-db.ts'),
    import('../src/ratelimit/redis.ts'),
    import('../src/cli/worker.ts'),
  ]);
  // Loaded only when stdout is a terminal (or LOG_FORMAT=pretty): pretty log lines.
  module.createRequire(import.meta.url)('pino-pretty');
  module.flushCompileCache();
  say(`filled in ${compileCacheDir}`);
} catch (error) {
  say(`not filled: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  if (dataDir) {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
