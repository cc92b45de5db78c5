// `callgate worker --metrics-port`: a worker without the API still shows its own counters (delivery attempts,
// provider requests, process) to Prometheus, behind METRICS_TOKEN, and stops cleanly on SIGTERM, saying so.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../../test/helpers/cli-process.ts';
import { type ServerProcess, startServerProcess } from '../../test/helpers/server-process.ts';
import { createTestStore, storeKinds } from '../../test/helpers/stores.ts';

describe('callgate worker --metrics-port', () => {
  let dataDir: string;
  let worker: ServerProcess;
  let url: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'callgate-worker-metrics-'));
    worker = await startServerProcess(
      { DATA_DIR: dataDir, METRICS_TOKEN: 'worker-token' },
      'src/cli/main.ts',
      ['worker', '--metrics-port', '0'],
      /callgate webhook worker ready/,
    );
    const ready = worker.logs.find((l) => l.includes('callgate webhook worker ready')) ?? '';
    url = JSON.parse(ready).metrics;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  });
  after(async () => {
    await worker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('serves the registry with the bearer token, 401 without, 404 elsewhere', async () => {
    const refused = await fetch(url);
    assert.equal(refused.status, 401);
    assert.deepEqual(await refused.json(), { error: 'Unauthorized', code: 'UNAUTHORIZED' });
    const res = await fetch(url, { headers: { authorization: 'Bearer worker-token' } });
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.match(body, /^# TYPE callgate_webhook_attempts_total counter$/m);
    assert.match(body, /^# TYPE callgate_provider_requests_total counter$/m);
    assert.match(body, /^nodejs_eventloop_lag_seconds [\d.e-]+$/m);
    assert.equal((await fetch(url.replace('/metrics', '/other'))).status, 404);
  });

  test('on a wildcard HOST the ready line names a URL that opens from this machine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'callgate-worker-wildcard-'));
    const wildcard = await startServerProcess(
      { DATA_DIR: dir, HOST: '0.0.0.0' },
      'src/cli/main.ts',
      ['worker', '--metrics-port', '0'],
      /callgate webhook worker ready/,
    );
    try {
      const ready = wildcard.logs.find((l) => l.includes('callgate webhook worker ready')) ?? '';
      const shown = JSON.parse(ready).metrics as string;
      assert.match(shown, /^http:\/\/localhost:\d+\/metrics$/, 'not http://0.0.0.0:…, which no browser opens');
      assert.equal((await fetch(shown)).status, 200);
    } finally {
      await wildcard.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a bad port is a usage mistake; SIGTERM stops the worker and its metrics listener', async () => {
    const bad = await runCli(['worker', '--metrics-port', 'nine'], { DATA_DIR: dataDir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--metrics-port is a port number/);
    assert.equal(await worker.stop('SIGTERM'), 0);
    await assert.rejects(fetch(url, { headers: { authorization: 'Bearer worker-token' } }));
    const last = JSON.parse(worker.logs.filter((l) => l.startsWith('{')).at(-1) ?? '{}');
    assert.match(last.msg, /^callgate worker stopped: shut down in \d+ ms$/, 'the last line says the stop finished');
    assert.equal(typeof last.durationMs, 'number');
  });
});

for (const kind of storeKinds()) {
  test(`[${kind}] a metrics port in use: exit 1 naming it, not a worker left running that delivers nothing`, async () => {
    const store = await createTestStore(kind);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const run = await runCli(['worker', '--metrics-port', String(port)], { ...store.env, HOST: '127.0.0.1' });
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        new RegExp(`callgate: cannot serve metrics on HOST=127\\.0\\.0\\.1 --metrics-port ${port}: EADDRINUSE\n$`),
      );
    } finally {
      taken.close();
      await store.dispose();
    }
  });
}
