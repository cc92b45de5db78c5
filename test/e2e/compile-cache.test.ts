// `npm install` fills Node's compile cache (scripts/warm-compile-cache.mjs) so that even the first start after an
// install loads every module already type-stripped and compiled (docs/benchmarks.md: cold start).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startServerProcess } from '../helpers/server-process.ts';

const ROOT = join(import.meta.dirname, '../..');
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of dirs) {
    rmSync(dir, { recursive: true, force: true });
  }
});

function warm(env: Record<string, string>) {
  return spawnSync(process.execPath, [join(ROOT, 'scripts/warm-compile-cache.mjs')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
  });
}

/** Every cache entry with its size and modification time. */
function entries(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const stat = statSync(join(dir, name));
    if (stat.isFile()) {
      found.set(name, `${stat.size}@${stat.mtimeMs}`);
    }
  }
  return found;
}

test('the cache the install fills holds every module a start loads: the first start compiles nothing', async () => {
  const cache = tempDir('callgate-cc-');
  const install = warm({ NODE_COMPILE_CACHE: cache });
  assert.equal(install.status, 0, install.stderr);
  assert.match(install.stderr, /compile cache filled in/);
  const filled = entries(cache);
  assert.ok(filled.size > 50, `the cache holds the server's modules (${filled.size} entries)`);

  const server = await startServerProcess({ DATA_DIR: tempDir('callgate-cc-data-'), NODE_COMPILE_CACHE: cache });
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  assert.equal(await server.stop(), 0);
  assert.deepEqual(entries(cache), filled, 'the start found everything in the cache and wrote nothing new');
});

test('a start with an empty cache fills it (what the check above would see if the install had missed a module)', async () => {
  const cache = tempDir('callgate-cc-empty-');
  const server = await startServerProcess({ DATA_DIR: tempDir('callgate-cc-data-'), NODE_COMPILE_CACHE: cache });
  assert.equal(await server.stop(), 0);
  assert.ok(entries(cache).size > 50);
});

test('the install step never fails an install: with the cache disabled, or no usable temp dir, it says so and exits 0', () => {
  const cases: Record<string, string>[] = [
    { NODE_DISABLE_COMPILE_CACHE: '1' },
    { TMPDIR: join(tempDir('callgate-cc-tmp-'), 'missing') },
  ];
  for (const env of cases) {
    const install = warm({ NODE_COMPILE_CACHE: tempDir('callgate-cc-off-'), ...env });
    assert.equal(install.status, 0, JSON.stringify(env));
    assert.match(install.stderr, /compile cache not filled/, JSON.stringify(env));
  }
});
