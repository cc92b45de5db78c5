// openRealtime against a bare WebSocket server standing in for callgate's pcm16 socket: what goes on the wire.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { openRealtime } from '../src/realtime.ts';

describe('openRealtime', () => {
  let server: WebSocketServer;
  let url: string;
  const received: Buffer[] = [];
  before(async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/media/realtime?token=rt_x&format=twilio`;
    server.on('connection', (socket) => {
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          received.push(data);
        }
      });
    });
  });
  after(() => {
    for (const client of server.clients) {
      client.terminate();
    }
    server.close();
  });

  test('send splits long audio into messages of at most 1 s (the server drops one over 10 s)', async () => {
    received.length = 0;
    const stream = await openRealtime(url);
    const pcm = new Int16Array(16_000 * 12 + 100).map((_, i) => i % 1000);
    stream.send(pcm);
    await waitFor(() => received.reduce((n, b) => n + b.length, 0) === pcm.length * 2);
    assert.ok(received.length > 1);
    for (const message of received) {
      assert.ok(message.length <= 32_000, `a message of ${message.length} bytes`);
    }
    const joined = Buffer.concat(received);
    assert.equal(joined.readInt16LE(2 * 16_500), 16_500 % 1000);
    stream.close();
    assert.equal(await stream.closed, 1000);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    assert.ok(Date.now() < until, 'timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
