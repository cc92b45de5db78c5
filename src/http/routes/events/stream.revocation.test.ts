// A live event stream lives no longer than its key: regenerating or revoking the key, or deleting its number, ends
// the stream within seconds (also when another process serves it); a key holds a bounded number of open streams.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { missing } from '../../../../test/helpers/requirements.ts';
import { type ServerProcess, startServerProcess } from '../../../../test/helpers/server-process.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

/** Opens a stream; `ended` resolves with the text received once the server ends it. */
async function openStream(baseUrl: string, key: string) {
  const controller = new AbortController();
  const res = await fetch(`${baseUrl}/v1/events/stream`, {
    headers: { 'x-api-key': key },
    signal: controller.signal,
  });
  let text = '';
  // Resolves only when the server closes the response cleanly; a reset or our own abort never counts as "ended".
  const ended =
    res.status === 200 && res.body
      ? (async () => {
          const decoder = new TextDecoder();
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            text += decoder.decode(chunk, { stream: true });
          }
          return text;
        })().catch(() => new Promise<string>(() => {}))
      : new Promise<string>(() => {});
  return { res, ended, received: () => text, stop: () => controller.abort() };
}

/** Whether the promise settles within ms. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  const done = await Promise.race([promise.then(() => true), timeout]);
  clearTimeout(timer);
  return done;
}

async function regenerate(t: TestApp, baseUrl: string = t.baseUrl) {
  const res = await fetch(`${baseUrl}/v1/api-keys/${t.numberA.id}/regenerate`, {
    method: 'POST',
    headers: { 'x-api-key': t.tenantKey.key },
  });
  assert.equal(res.status, 200);
  t.numberA.key = (await res.json()).apiKey;
}

for (const kind of storeKinds()) {
  describe(`event streams end with their key [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, { env: { EVENT_STREAMS_PER_KEY: '2' } });
    });
    after(() => t.close());

    test('regenerating the key ends a stream opened with the old one within seconds', async () => {
      const oldKey = t.numberA.key.key;
      const stream = await openStream(t.baseUrl, oldKey);
      assert.equal(stream.res.status, 200);
      await regenerate(t);
      assert.ok(await within(stream.ended, 5_000), 'the server closed the stream');
      // The old key cannot open another one.
      const again = await openStream(t.baseUrl, oldKey);
      assert.equal(again.res.status, 401);
    });

    test('deleting the number ends a stream of its key', async () => {
      t.fake.addNumber({
        phoneNumberId: '880001',
        displayPhoneNumber: '551130009999',
        wabaId: '102290129340398',
        accessToken: 'EAAG-token',
        appSecret: 'app-secret',
      });
      const created = await t.app.inject({
        method: 'POST',
        url: '/v1/numbers',
        headers: { 'x-api-key': t.tenantKey.key },
        payload: {
          name: 'Short-lived',
          phoneNumber: '+551130009999',
          provider: 'META',
          meta: {
            phoneNumberId: '880001',
            wabaId: '102290129340398',
            accessToken: 'EAAG-token',
            appSecret: 'app-secret',
            verifyToken: 'vt',
          },
        },
      });
      assert.equal(created.statusCode, 201);
      const { number, apiKey } = created.json();
      const stream = await openStream(t.baseUrl, apiKey.key);
      assert.equal(stream.res.status, 200);
      const deleted = await t.app.inject({
        method: 'DELETE',
        url: `/v1/numbers/${number.id}`,
        headers: { 'x-api-key': t.tenantKey.key },
      });
      assert.ok(deleted.statusCode < 300);
      assert.ok(await within(stream.ended, 5_000), 'the stream ended');
    });

    test('a key holds at most EVENT_STREAMS_PER_KEY open streams: one more is 429, a closed one frees a place', async () => {
      const key = t.numberB.key.key;
      const first = await openStream(t.baseUrl, key);
      const second = await openStream(t.baseUrl, key);
      assert.equal(first.res.status, 200);
      assert.equal(second.res.status, 200);
      const third = await openStream(t.baseUrl, key);
      assert.equal(third.res.status, 429);
      const body = await third.res.json();
      assert.equal(body.code, 'RATE_LIMITED');
      assert.deepEqual(body.details, { openStreamsLimit: 2 });
      assert.ok(Number(third.res.headers.get('retry-after')) > 0);
      // Another key is not affected.
      const other = await openStream(t.baseUrl, t.tenantKey.key);
      assert.equal(other.res.status, 200);
      other.stop();

      first.stop();
      let reopened: Awaited<ReturnType<typeof openStream>> | undefined;
      for (let i = 0; i < 50 && reopened?.res.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        reopened = await openStream(t.baseUrl, key);
      }
      assert.equal(reopened?.res.status, 200);
      second.stop();
      reopened?.stop();
    });

    test('clients that hang up before the stream starts do not use up the key streams', async () => {
      const key = t.numberB.key.key;
      const { hostname, port } = new URL(t.baseUrl);
      // Each client sends its request and goes away at once, while the server is still authenticating it.
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          const socket = net.connect(Number(port), hostname);
          await once(socket, 'connect');
          socket.end(`GET /v1/events/stream HTTP/1.1\r\nhost: x\r\nx-api-key: ${key}\r\n\r\n`);
          socket.destroy();
        }),
      );
      const streams: Awaited<ReturnType<typeof openStream>>[] = [];
      for (let i = 0; i < 50 && streams.length < 2; i++) {
        const s = await openStream(t.baseUrl, key);
        if (s.res.status === 200) {
          streams.push(s);
        } else {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      assert.equal(streams.length, 2, 'both of the key streams can be opened');
      for (const s of streams) {
        s.stop();
      }
    });
  });
}

describe('event streams end with their key across processes [postgres]', { skip: missing('postgres') }, () => {
  let t: TestApp;
  let other: ServerProcess;
  before(async () => {
    t = await buildTestApp('postgres');
    other = await startServerProcess({ ...t.store.env, META_GRAPH_BASE_URL: t.fake.baseUrl, WORKERS: 'off' });
  });
  after(async () => {
    await other?.stop();
    await t?.close();
  });

  test('a key regenerated through one process ends its stream on the other within seconds', async () => {
    const stream = await openStream(other.url, t.numberA.key.key);
    assert.equal(stream.res.status, 200);
    await regenerate(t);
    assert.ok(await within(stream.ended, 5_000), 'the stream on the other process ended');
  });
});
