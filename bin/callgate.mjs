#!/usr/bin/env node
// The `callgate` command (on PATH after `npm link`). It needs type stripping (Node >= 22.18, or 23.6 on 23); an older
// Node, such as a machine's own, runs it again on the Node that `npm install` put in node_modules (the `node`
// devDependency), passing signals on and ending as the child ended, so a supervisor's SIGTERM reaches the worker.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const stripsTypes = major > 23 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);
if (stripsTypes) {
  await import('../src/cli/main.ts');
} else {
  const bundled = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(bundled)) {
    const root = fileURLToPath(new URL('..', import.meta.url));
    console.error(`callgate needs Node >= 22.18, this is ${process.version}: run npm install in ${root}`);
    process.exit(1);
  }
  const child = spawn(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    // A terminal's Ctrl-C reaches both; the child decides when it is done.
    process.on(signal, () => child.kill(signal));
  }
  child.on('error', (err) => {
    console.error(`callgate: cannot run ${bundled}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 1);
    }
  });
}
