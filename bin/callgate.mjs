#!/usr/bin/env node
// The `callgate` command (on PATH after `npm link`). It needs Node >= 22.18 (type stripping); an older Node, such as
// a machine's own, runs it again on the Node that `npm install` put in node_modules (the `node` devDependency).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major > 22 || (major === 22 && minor >= 18)) {
  await import('../src/cli/main.ts');
} else {
  const bundled = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(bundled)) {
    console.error(
      `callgate needs Node >= 22.18, this is ${process.version}: run npm install in ${fileURLToPath(new URL('..', import.meta.url))}`,
    );
    process.exit(1);
  }
  const run = spawnSync(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(run.status ?? 1);
}
