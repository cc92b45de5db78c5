// `callgate simulate call` when the server goes away while it follows the call (a restart): it says so on stderr
// and that it resumed, as `calls watch` does, instead of waiting in silence. A stand-in server answers the create
// and drops the first live stream; the second one carries the call's end.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { runCli } from '../../test/helpers/cli-process.ts';

test('simulate call says when its live stream is lost and when it resumes, then follows the call to its end', async () => {
  const callId = 'call_01JDSIMULATERECONNECT0000';
  const call = { id: callId, status: 'RINGING', peerNumber: '15550100', sandbox: true };
  let streams = 0;
  let first: import('node:http').ServerResponse | null = null;
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/v1/sandbox/calls') {
      res.writeHead(201, { 'content-type': 'application/json' });
      // The CLI creates the call once its stream is open: that stream now goes, as a stopping server's does.
      res.end(JSON.stringify({ sandbox: true, call }), () => first?.socket?.destroy());
      return;
    }
    if (req.url === '/v1/events/stream') {
      streams++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (streams === 1) {
        first = res;
        res.write('retry: 50\n: connected\n\n');
        return;
      }
      const ended = { ...call, status: 'COMPLETED', durationSeconds: 3, endedBy: 'PEER' };
      res.write(
        `retry: 50\n: connected\n\nid: c2\nevent: call.ended\ndata: ${JSON.stringify({ event: 'call.ended', ...ended })}\n\n`,
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const cli = await runCli(['simulate', 'call'], { CALLGATE_URL: url, CALLGATE_API_KEY: 'ps_test' });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, /^Connection lost \([^)]*\); reconnecting in \d+ ms$/m);
    assert.match(cli.stderr, /^Reconnected: events since the start are sent now, none missed$/m);
    assert.match(cli.stdout, /call\.ended\s+call_01JDSIMULATERECONNECT0000\s+COMPLETED/);
    assert.equal(streams, 2);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
