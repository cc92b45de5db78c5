// A real callgate server as a child process (node src/main.mjs), for multi-process and crash tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const ROOT = join(import.meta.dirname, '../..');

/** `callgate worker` as a child process; resolves once it says it is ready. */
export async function startWorkerProcess(env: Record<string, string>): Promise<ServerProcess> {
  return startServerProcess(env, 'src/cli/main.ts', ['worker'], /callgate webhook worker ready/);
}

export async function startServerProcess(
  env: Record<string, string>,
  script = 'src/main.mjs',
  args: string[] = [],
  readyLine?: RegExp,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${logs.join('\n')}`)), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${logs.join('\n')}`));
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        logs.push(line);
        if (readyLine?.test(line)) {
          clearTimeout(timer);
          resolve('');
          return;
        }
        const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    }
  });
  child.removeAllListeners('exit');
  return {
    url,
    child,
    logs,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          return resolve(child.exitCode);
        }
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      });
    },
  };
}
