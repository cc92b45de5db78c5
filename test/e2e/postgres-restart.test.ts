// PostgreSQL restarted under load: clean 503s while it is down, full recovery after, no crash.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { missing } from '../helpers/requirements.ts';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.ts';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, '../../scripts/pg-local.sh');
const PORT = '55491';

describe('PostgreSQL restart under load', { skip: missing('postgres') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'callgate-pg-restart-'));
  let url = '';
  let server: ServerProcess;
  let tenantKey = '';

  before(async () => {
    // A database of its own: restarting the shared test server would disturb other suites.
    url = (await run('bash', [SCRIPT, 'start', dir, PORT])).stdout.trim();
    server = await startServerProcess({
      DATABASE_URL: url,
      SECRET_KEY: 'restart-test-secret-key-32-characters',
      WORKERS: 'off',
      RATE_LIMIT_PER_SECOND: '100000',
      RATE_LIMIT_BURST: '100000',
    });
    const cli = await run(
      process.execPath,
      [join(import.meta.dirname, '../../src/cli/main.ts'), 'tenants', 'create', '--name', 'Restart'],
      { env: { PATH: process.env.PATH ?? '', DATABASE_URL: url, SECRET_KEY: 'restart-test-secret-key-32-characters' } },
    );
    tenantKey = JSON.parse(cli.stdout).apiKey.key;
  });
  after(async () => {
    await server?.stop();
    await run('bash', [SCRIPT, 'stop', dir, PORT]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const probe = async () => {
    const res = await fetch(`${server.url}/v1/numbers`, { headers: { 'x-api-key': tenantKey } });
    return { status: res.status, body: (await res.json()) as { code?: string } };
  };

  test('while down: 503 STORE_UNAVAILABLE in the envelope (never 500); after restart: 200 again', async () => {
    assert.equal((await probe()).status, 200);
    let stop = false;
    const seen: number[] = [];
    const load = (async () => {
      while (!stop) {
        const r: { status: number; body: { code?: string } } = await probe().catch(() => ({ status: -1, body: {} }));
        seen.push(r.status);
        if (r.status >= 500) {
          assert.equal(r.status, 503, JSON.stringify(r.body));
        }
        if (r.status === 503) {
          assert.equal(r.body.code, 'STORE_UNAVAILABLE');
        }
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    await run('bash', [SCRIPT, 'stop', dir, PORT]);
    await new Promise((r) => setTimeout(r, 1500));
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 503, 'readyz says the database is gone');
    await run('bash', [SCRIPT, 'start', dir, PORT]);
    const deadline = Date.now() + 15_000;
    while ((await probe()).status !== 200) {
      assert.ok(Date.now() < deadline, 'recovered within 15 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    stop = true;
    await load;
    assert.ok(seen.includes(503), 'the outage was observed as 503s');
    assert.ok(!seen.includes(-1), 'the server never dropped a connection or crashed');
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    assert.equal(server.child.exitCode, null, 'still running');
  });
});
