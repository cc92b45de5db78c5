// Draining: once app.close() has begun, in-flight requests finish and close their connections, a request that still
// arrives on a kept-alive connection gets the error envelope, Retry-After and Connection: close (never Fastify's bare
// 503), and no connection (silent, late or kept alive) holds the close for a timeout.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestApp, eventually, type TestApp } from '../../test/helpers/build-test-app.ts';
import { callIn } from '../../test/helpers/calls.ts';

/** Longer than a drain takes here, far shorter than the timeouts (keep-alive, connection) that held it before. */
const hung = () => sleep(8000).then(() => 'hung' as const);

/** Holds the server's own close (the listening socket, idle connections) back 1 s: slow preClose hooks. */
function slowPreClose(t: TestApp): void {
  const server = t.app.server;
  const stopListening = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    setTimeout(() => stopListening(cb), 1000);
    return server;
  }) as typeof server.close;
}

/** Until Fastify refuses new injected requests: it marks itself closing just before the preClose hooks. */
async function draining(t: TestApp): Promise<void> {
  await eventually(async () =>
    t.app.inject({ url: '/healthz' }).then(
      () => false,
      () => true,
    ),
  );
}

describe('shutdown drain', () => {
  test('a request on a kept-alive connection during the drain: 503 envelope, Retry-After, Connection: close', async () => {
    const t = await buildTestApp('sqlite');
    const socket = connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
    });
    const closed = new Promise<'closed'>((resolve) => socket.on('close', () => resolve('closed')));
    try {
      const key = t.numberA.key.key;
      const list = `GET /v1/calls HTTP/1.1\r\nhost: localhost\r\nx-api-key: ${key}\r\nconnection: keep-alive\r\n\r\n`;
      socket.write(list);
      await eventually(async () => {
        const [head = '', body] = received.split('\r\n\r\n');
        const length = /\r\ncontent-length: (\d+)/i.exec(head)?.[1];
        return body !== undefined && Buffer.byteLength(body) === Number(length);
      });
      assert.match(received, /^HTTP\/1\.1 200 /);
      assert.match(received, /\r\nconnection: keep-alive\r\n/i, 'kept alive before the drain');
      received = '';
      slowPreClose(t);
      const closing = t.app.close().then(() => 'closed' as const);
      await draining(t);
      socket.write(list);
      assert.equal(await Promise.race([closed, hung()]), 'closed');
      assert.equal(await Promise.race([closing, hung()]), 'closed');

      const [head, body] = received.split('\r\n\r\n');
      assert.match(head ?? '', /^HTTP\/1\.1 503 /);
      assert.match(head ?? '', /\r\nconnection: close\r\n/i);
      assert.match(head ?? '', /\r\nretry-after: 1\r\n/i);
      const envelope = JSON.parse(body ?? '');
      assert.equal(envelope.code, 'SERVICE_UNAVAILABLE');
      assert.equal(typeof envelope.requestId, 'string');
      assert.equal(typeof envelope.error, 'string');
    } finally {
      socket.destroy();
      await t.close();
    }
  });
});

describe('shutdown with a request in flight on a kept-alive connection', () => {
  test('its answer says Connection: close and the connection ends, so close() does not wait for it', async () => {
    const t = await buildTestApp('sqlite', { env: { PROVIDER_TIMEOUT_MS: '5000' } });
    try {
      const call = await callIn(t, 'ACCEPTED');
      t.fake.inject({ action: 'terminate', latencyMs: 600, times: 1 });
      const socket = connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk.toString('utf8');
      });
      const socketClosed = new Promise<'closed'>((resolve) => socket.on('close', () => resolve('closed')));
      socket.write(
        `POST /v1/calls/${call.id}/terminate HTTP/1.1\r\nhost: localhost\r\nx-api-key: ${t.numberA.key.key}\r\n` +
          'connection: keep-alive\r\ncontent-length: 0\r\n\r\n',
      );
      await eventually(async () => t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }) === 1);
      const closing = t.app.close().then(() => 'closed' as const);
      assert.equal(await Promise.race([closing, hung()]), 'closed', 'close() finished');
      assert.equal(await Promise.race([socketClosed, hung()]), 'closed', 'the connection ended');
      assert.match(received, /^HTTP\/1\.1 200 /, 'the hang-up in flight was answered');
      assert.match(received, /\r\nconnection: close\r\n/i);
      socket.destroy();
    } finally {
      await t.close();
    }
  });
});

describe('shutdown with connections that never ask anything', () => {
  /** A raw connection that sends nothing, once the server holds it; resolves `closed` when the server drops it. */
  async function silentConnection(t: TestApp) {
    const before = await connections(t);
    const socket = connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
    const closed = new Promise<'closed'>((resolve) => socket.on('close', () => resolve('closed')));
    socket.on('error', () => undefined);
    await eventually(async () => (await connections(t)) > before, 5000, 'the server to hold the connection');
    return { socket, closed };
  }
  const connections = (t: TestApp) =>
    new Promise<number>((resolve, reject) => t.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

  test('one open before the drain: closed by it, and close() does not wait for it', async () => {
    const t = await buildTestApp('sqlite');
    const silent = await silentConnection(t);
    try {
      assert.equal(await Promise.race([t.close().then(() => 'closed' as const), hung()]), 'closed');
      assert.equal(await Promise.race([silent.closed, hung()]), 'closed');
    } finally {
      silent.socket.destroy();
    }
  });

  test('one opened during the drain (a keep-alive pool reconnecting): closed at once', async () => {
    const t = await buildTestApp('sqlite');
    // The listening socket closes once the preClose hooks are done; slow ones (the media engine ending its calls)
    // leave a window in which the server still accepts.
    slowPreClose(t);
    const closing = t.close().then(() => 'closed' as const);
    await draining(t);
    const late = connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
    late.on('error', () => undefined);
    const connected = new Promise<boolean>((resolve) => {
      late.on('connect', () => resolve(true));
      late.on('error', () => resolve(false));
    });
    const lateClosed = new Promise<'closed'>((resolve) => late.on('close', () => resolve('closed')));
    try {
      assert.equal(await connected, true, 'the server still accepted');
      assert.equal(await Promise.race([lateClosed, hung()]), 'closed', 'the late connection was dropped');
      assert.equal(await Promise.race([closing, hung()]), 'closed');
    } finally {
      late.destroy();
    }
  });
});
