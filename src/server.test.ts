// The server process as an operator starts it: the ready line names the URLs, GET / leads to the dashboard,
// each request is one log line, and LOG_FORMAT picks JSON or pretty lines (JSON when stdout is not a terminal).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServerProcess } from '../test/helpers/server-process.ts';

describe('server start-up and logs', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'callgate-server-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('JSON logs: the ready line names API, /docs and /dashboard; GET / redirects; one line per request', async () => {
    const server = await startServerProcess({ DATA_DIR: dataDir });
    try {
      const ready = await waitForLog(server.logs, (l) => l.includes('callgate ready'));
      const line = JSON.parse(ready);
      assert.equal(
        line.msg,
        `callgate ready: API ${server.url}/v1, reference ${server.url}/docs, dashboard ${server.url}/dashboard`,
      );
      assert.equal(line.docs, `${server.url}/docs`);
      assert.equal(line.metrics, `${server.url}/metrics`);

      const root = await fetch(`${server.url}/`, { redirect: 'manual', headers: { 'x-request-id': 'req-root' } });
      assert.equal(root.status, 302);
      assert.equal(root.headers.get('location'), '/dashboard');

      await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'req-health' } });
      // A later request's line is written after every line of the earlier one.
      await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'req-after' } });
      await waitForLog(server.logs, (l) => l.includes('"req-after"'));
      const lines = server.logs.filter((l) => l.includes('"req-health"')).map((l) => JSON.parse(l));
      assert.equal(lines.length, 1, 'one line per request');
      assert.equal(lines[0].msg, 'GET /healthz 200');
      assert.equal(lines[0].res.statusCode, 200);
      assert.equal(typeof lines[0].responseTime, 'number');
    } finally {
      await server.stop();
    }
  });

  test('LOG_FORMAT=pretty prints readable lines, not JSON', async () => {
    const server = await startServerProcess(
      { DATA_DIR: dataDir, LOG_FORMAT: 'pretty' },
      'src/main.mjs',
      [],
      /callgate ready/,
    );
    try {
      const ready = await waitForLog(server.logs, (l) => l.includes('callgate ready'));
      assert.match(ready, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: callgate ready: API http:\/\/127\.0\.0\.1:\d+\/v1, /);
      assert.throws(() => JSON.parse(ready));
    } finally {
      await server.stop();
    }
  });
});

async function waitForLog(logs: string[], match: (line: string) => boolean, ms = 5000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = logs.find(match);
    if (found !== undefined) {
      return found;
    }
    if (Date.now() > deadline) {
      throw new Error(`no such log line:\n${logs.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
