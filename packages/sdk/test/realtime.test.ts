// openRealtime against a bare WebSocket server standing in for callgate's pcm16 socket: what goes on the wire.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer, WebSocket as WsWebSocket } from 'ws';
import { Callgate, CallgateError } from '../src/index.ts';
import { openRealtime } from '../src/realtime.ts';

describe('openRealtime', () => {
  let server: WebSocketServer;
  let url: string;
  const received: Buffer[] = [];
  before(async () => {
    // A used or expired token is refused before the upgrade, as callgate does (401).
    server = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      verifyClient: (info, done) => done(!info.req.url?.includes('token=rt_used'), 401),
    });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/media/realtime?token=rt_x&format=twilio`;
    server.on('connection', (socket, req) => {
      if (req.url?.includes('token=rt_keys')) {
        // The caller presses two keys, as callgate's pcm16 framing tells them (and a message without a digit).
        for (const dtmf of [{ digit: '4' }, {}, { digit: '#' }]) {
          socket.send(JSON.stringify({ event: 'dtmf', dtmf }));
        }
        socket.close(1000);
        return;
      }
      if (req.url?.includes('token=rt_ending')) {
        // The call ends: the server says why, then closes.
        socket.send(JSON.stringify({ event: 'stop', reason: 'call ended' }));
        socket.close(1000);
        return;
      }
      // One 20 ms frame of the caller; a mark is echoed as the server does once what came before it has played.
      socket.send(Buffer.from(new Int16Array(320).fill(-1234).buffer), { binary: true });
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          received.push(data);
        } else if (JSON.parse(data.toString()).event === 'mark') {
          socket.send(data.toString());
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

  test('a socket that cannot be opened is a CallgateError NETWORK_ERROR, like every failure of the client', async () => {
    const used = url.replace('rt_x', 'rt_used');
    for (const WebSocket of [undefined, WsWebSocket]) {
      await assert.rejects(
        openRealtime(used, { WebSocket }),
        (error: unknown) =>
          error instanceof CallgateError &&
          error.code === 'NETWORK_ERROR' &&
          error.status === 0 &&
          !error.message.includes('rt_used'),
      );
    }
  });

  test("the server's stop reason is kept: why the session ended, beside the close code", async () => {
    const stream = await openRealtime(url.replace('rt_x', 'rt_ending'));
    assert.equal(await stream.closed, 1000);
    assert.equal(stream.stopReason, 'call ended');
    const open = await openRealtime(url);
    assert.equal(open.stopReason, null, 'none while the session runs');
    open.close();
    await open.closed;
  });

  test('keys the caller presses reach onDigit, in order', async () => {
    const stream = await openRealtime(url.replace('rt_x', 'rt_keys'));
    const digits: string[] = [];
    stream.onDigit = (digit) => digits.push(digit);
    assert.equal(await stream.closed, 1000);
    assert.deepEqual(digits, ['4', '#']);
  });

  test('an upgrade that never answers gives up (TIMEOUT), and opening can be aborted (ABORTED)', async () => {
    // Takes the connection and never answers the upgrade: a proxy or host that stalled.
    const stalled = createServer();
    const sockets = new Set<Socket>();
    stalled.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    try {
      const at = `ws://127.0.0.1:${(stalled.address() as AddressInfo).port}/v1/media/realtime?token=rt_x`;
      await assert.rejects(
        openRealtime(at, { openTimeoutMs: 200 }),
        (error: unknown) =>
          error instanceof CallgateError && error.code === 'TIMEOUT' && !error.message.includes('rt_x'),
      );
      const abort = new AbortController();
      const opening = openRealtime(at, { signal: abort.signal });
      abort.abort();
      await assert.rejects(opening, (error: unknown) => error instanceof CallgateError && error.code === 'ABORTED');
    } finally {
      for (const socket of sockets) {
        socket.destroy();
      }
      stalled.close();
    }
  });

  test('the WebSocket class can be given (Node 20 has no global one): the `ws` package reads and writes frames', async () => {
    const made: string[] = [];
    class CountingWebSocket extends WsWebSocket {
      constructor(address: string) {
        super(address);
        made.push(address);
      }
    }
    received.length = 0;
    const stream = await openRealtime(url, { WebSocket: CountingWebSocket });
    assert.deepEqual(made, [`${url}&format=pcm16`]);
    const marks: string[] = [];
    stream.onMark = (name) => marks.push(name);
    const frames = stream[Symbol.asyncIterator]();
    const first = await frames.next();
    assert.deepEqual(first.value, new Int16Array(320).fill(-1234));
    stream.send(new Int16Array(320).fill(42));
    stream.mark('hello');
    await waitFor(() => received.length === 1 && marks.length === 1);
    assert.equal(received[0]!.readInt16LE(0), 42);
    assert.deepEqual(marks, ['hello']);
    stream.close();
    assert.equal(await stream.closed, 1000);
  });

  test('without any WebSocket class it says how to give one, before a realtime session spends its token', async () => {
    const global = globalThis as { WebSocket?: unknown };
    const saved = global.WebSocket;
    delete global.WebSocket;
    try {
      await assert.rejects(openRealtime(url), (error: Error) => error instanceof TypeError && /ws/.test(error.message));
      const requests: string[] = [];
      const client = new Callgate({
        baseUrl: 'http://127.0.0.1:9',
        apiKey: 'ps_x',
        fetch: async (input) => {
          requests.push(input);
          return Response.json({ wsUrl: url, token: 'rt_x', expiresInSeconds: 60 });
        },
      });
      await assert.rejects(client.calls.realtime('call_1', { mode: 'talk' }), TypeError);
      assert.deepEqual(requests, [], 'no realtime-session was asked for');
      const given = new Callgate({
        baseUrl: 'http://127.0.0.1:9',
        apiKey: 'ps_x',
        WebSocket: WsWebSocket,
        fetch: async () => Response.json({ wsUrl: url, token: 'rt_x', expiresInSeconds: 60 }),
      });
      const stream = await given.calls.realtime('call_1', { mode: 'listen' });
      stream.close();
      assert.equal(await stream.closed, 1000);
    } finally {
      global.WebSocket = saved;
    }
  });
});

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    assert.ok(Date.now() < until, 'timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
