// Draining: once app.close() has begun, in-flight requests finish, and a request that still arrives on a kept-alive
// connection gets the error envelope, Retry-After and Connection: close (never Fastify's bare 503).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestApp, eventually, type TestApp } from '../../test/helpers/build-test-app.ts';
import { callIn } from '../../test/helpers/calls.ts';

describe('shutdown drain', () => {
  let t: TestApp;
  before(async () => {
    // The hang-up held at the provider (300 ms) must still come back inside its deadline (400 ms in tests).
    t = await buildTestApp('sqlite', { env: { PROVIDER_TIMEOUT_MS: '2000' } });
  });
  after(() => t.close());

  test('a request on a kept-alive connection during the drain: 503 envelope, Retry-After, Connection: close', async () => {
    const call = await callIn(t, 'ACCEPTED');
    // The hang-up in flight keeps the server draining for a while.
    t.fake.inject({ action: 'terminate', latencyMs: 300, times: 1 });
    const { port } = new URL(t.baseUrl);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const key = t.numberA.key.key;
    socket.write(
      `POST /v1/calls/${call.id}/terminate HTTP/1.1\r\nhost: localhost\r\nx-api-key: ${key}\r\n` +
        'connection: keep-alive\r\ncontent-length: 0\r\n\r\n',
    );
    // The hang-up is at the provider: in flight until its answer comes back.
    await eventually(async () => t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }) === 1);
    const closing = t.app.close();
    // Draining has begun once Fastify refuses new injected requests: it marks itself closing just before running
    // the preClose hooks, the first of which turns on the drain.
    await eventually(async () =>
      t.app.inject({ url: '/healthz' }).then(
        () => false,
        () => true,
      ),
    );
    await new Promise((r) => setImmediate(r));
    socket.write(`GET /v1/calls HTTP/1.1\r\nhost: localhost\r\nx-api-key: ${key}\r\nconnection: keep-alive\r\n\r\n`);
    await closed;
    await closing;

    const responses = received.split(/(?=HTTP\/1\.1 )/);
    assert.equal(responses.length, 2, received);
    assert.match(responses[0] ?? '', /^HTTP\/1\.1 200 /, 'the in-flight hang-up finished');
    const [head, body] = (responses[1] ?? '').split('\r\n\r\n');
    assert.match(head ?? '', /^HTTP\/1\.1 503 /);
    assert.match(head ?? '', /\r\nconnection: close\r\n/i);
    assert.match(head ?? '', /\r\nretry-after: 1\r\n/i);
    const envelope = JSON.parse(body ?? '');
    assert.equal(envelope.code, 'SERVICE_UNAVAILABLE');
    assert.equal(typeof envelope.requestId, 'string');
    assert.equal(typeof envelope.error, 'string');
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
  // Without the drain closing them, each held close() for the 60 s connection timeout.
  const hung = () => sleep(8000).then(() => 'hung' as const);

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
    // The listening socket closes once the preClose hooks are done; a second here stands for slow ones (the media
    // engine ending its calls), during which the server still accepts.
    const server = t.app.server;
    const stopListening = server.close.bind(server);
    server.close = ((cb?: (err?: Error) => void) => {
      setTimeout(() => stopListening(cb), 1000);
      return server;
    }) as typeof server.close;
    const closing = t.close().then(() => 'closed' as const);
    await eventually(async () =>
      t.app.inject({ url: '/healthz' }).then(
        () => false,
        () => true,
      ),
    );
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
