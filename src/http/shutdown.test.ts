// Draining: once app.close() has begun, in-flight requests finish, and a request that still arrives on a kept-alive
// connection gets the error envelope, Retry-After and Connection: close (never Fastify's bare 503).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
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
