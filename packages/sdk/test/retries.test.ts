// Retries against real conditions: the server's own 429s (tiny rate limits), the provider down behind the server
// (502 PROVIDER_UNAVAILABLE from the Meta fake), and a proxy in front of the server for 503/502 with Retry-After,
// hangs and refused connections.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP, CANNED_OFFER_SDP } from '../../../test/fakes/meta-graph.ts';
import { type FaultProxy, startFaultProxy } from '../../../test/helpers/fault-proxy.ts';
import { type IssuedKey, type LiveServer, nextPeer, startLiveServer } from '../../../test/helpers/live-server.ts';
import { isRetryableStatus, parseRetryAfter, retryDelayMs } from '../src/http.ts';
import { Callgate } from '../src/index.ts';
import { callgateError } from './callgate-error.ts';

const fastRetry = { baseDelayMs: 20, maxDelayMs: 100 };
const envelope = (code: string, error: string) => JSON.stringify({ error, code, requestId: 'req_from_proxy' });

describe('retry policy (pure parts)', () => {
  test('429, 502 and 503 are retried; a provider refusal and a daily Meta limit are not', () => {
    assert.equal(isRetryableStatus(429, 'RATE_LIMITED'), true);
    assert.equal(isRetryableStatus(503, 'SERVICE_UNAVAILABLE'), true);
    assert.equal(isRetryableStatus(502, 'PROVIDER_UNAVAILABLE'), true);
    assert.equal(isRetryableStatus(502, 'BAD_GATEWAY'), true);
    assert.equal(isRetryableStatus(502, 'PROVIDER_ERROR'), false);
    assert.equal(isRetryableStatus(429, 'META_CALL_PERMISSION_REQUEST_LIMIT'), false);
    for (const status of [400, 401, 403, 404, 409, 422, 500]) {
      assert.equal(isRetryableStatus(status, 'X'), false);
    }
  });

  test('Retry-After is read as seconds or as an HTTP date', () => {
    assert.equal(parseRetryAfter('3'), 3);
    assert.equal(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString()) !== null, true);
    assert.equal(parseRetryAfter('soon'), null);
    assert.equal(parseRetryAfter(null), null);
  });

  test('backoff doubles with equal jitter and a cap; Retry-After wins with at most 10 % (≤ 1 s) added', () => {
    const policy = { maxRetries: 5, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 60_000 };
    assert.equal(
      retryDelayMs(0, null, policy, () => 0),
      50,
    );
    assert.equal(
      retryDelayMs(0, null, policy, () => 1),
      100,
    );
    assert.equal(
      retryDelayMs(3, null, policy, () => 1),
      800,
    );
    assert.equal(
      retryDelayMs(9, null, policy, () => 1),
      1000,
    );
    assert.equal(
      retryDelayMs(0, 2, policy, () => 0),
      2000,
    );
    assert.equal(
      retryDelayMs(0, 2, policy, () => 1),
      2200,
    );
    assert.equal(
      retryDelayMs(0, 30, policy, () => 1),
      31_000,
    );
  });
});

describe('retries against a server process', () => {
  let live: LiveServer;
  let proxy: FaultProxy;
  let key: IssuedKey;

  before(async () => {
    live = await startLiveServer();
    proxy = await startFaultProxy(live.url);
    const tenant = new Callgate({ baseUrl: live.url, apiKey: live.tenantKey.key });
    key = (await tenant.numbers.create(live.numberInput(0))).apiKey;
  });
  after(async () => {
    await proxy.close();
    await live.close();
  });

  test('503 with Retry-After: 1 twice, then the server answers: the call succeeds, each retry waited ≥ 1 s', async () => {
    const c = new Callgate({ baseUrl: proxy.url, apiKey: key.key, retry: fastRetry });
    const from = proxy.requests.length;
    proxy.failNext(2, {
      status: 503,
      headers: { 'retry-after': '1' },
      body: envelope('SERVICE_UNAVAILABLE', 'down for a moment'),
    });
    const page = await c.calls.list({ limit: 5 });
    assert.ok(Array.isArray(page.calls));
    const tries = proxy.requests.slice(from);
    assert.deepEqual(
      tries.map((r) => r.answeredBy),
      ['proxy', 'proxy', 'server'],
    );
    for (let i = 1; i < tries.length; i++) {
      assert.ok(tries[i]!.at - tries[i - 1]!.at >= 990, `retry ${i} waited ${tries[i]!.at - tries[i - 1]!.at} ms`);
    }
  });

  test('a terminate retried through 503 and 502 keeps one Idempotency-Key and ends the call once', async () => {
    const call = await live.incomingCall(0, key.key);
    const c = new Callgate({ baseUrl: proxy.url, apiKey: key.key, retry: fastRetry });
    await c.calls.accept(call.id, { sdp: CANNED_ANSWER_SDP });
    const from = proxy.requests.length;
    proxy.failNext(1, { status: 503, headers: { 'retry-after': '0' } });
    proxy.failNext(1, { status: 502, body: '<html>bad gateway</html>', headers: { 'content-type': 'text/html' } });
    const result = await c.calls.terminate(call.id);
    assert.deepEqual(result, { success: true, id: call.id, status: 'COMPLETED' });
    const tries = proxy.requests.slice(from);
    assert.equal(tries.length, 3);
    const keys = new Set(tries.map((r) => r.headers['idempotency-key']));
    assert.equal(keys.size, 1, 'the same Idempotency-Key on every attempt');
    assert.match([...keys][0] as string, /^sdk_/);
    assert.equal(live.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
    const ended = (await c.calls.events(call.id)).filter((e) => e.type === 'terminate');
    assert.equal(ended.length, 1);
  });

  test("when retries run out the last error is thrown, typed, with the server's request id", async () => {
    const c = new Callgate({ baseUrl: proxy.url, apiKey: key.key, maxRetries: 2, retry: fastRetry });
    const from = proxy.requests.length;
    proxy.failNext(3, { status: 503, body: envelope('SERVICE_UNAVAILABLE', 'Service temporarily unavailable') });
    const error = await callgateError(c.calls.list());
    assert.equal(error.status, 503);
    assert.equal(error.code, 'SERVICE_UNAVAILABLE');
    assert.equal(error.requestId, 'req_from_proxy');
    assert.equal(proxy.requests.length - from, 3, 'one attempt and two retries');
  });

  test('a Retry-After longer than maxRetryAfterMs is not slept on: the error comes back at once', async () => {
    const c = new Callgate({ baseUrl: proxy.url, apiKey: key.key, retry: { ...fastRetry, maxRetryAfterMs: 5_000 } });
    proxy.failNext(1, { status: 503, headers: { 'retry-after': '3600' } });
    const started = Date.now();
    const error = await callgateError(c.calls.list());
    assert.equal(error.retryAfterSeconds, 3600);
    // Not slept on: neither the hour nor the 5 s cap. One request on a slow machine may take more than a second.
    assert.ok(Date.now() - started < 4000, `${Date.now() - started} ms`);
  });

  test('a hung attempt times out and is retried; with no retries left it is a TIMEOUT error', async () => {
    const c = new Callgate({ baseUrl: proxy.url, apiKey: key.key, timeoutMs: 300, retry: fastRetry });
    proxy.failNext(1, { status: 0, hang: true });
    assert.ok(Array.isArray((await c.calls.list()).calls));
    proxy.failNext(1, { status: 0, hang: true });
    const error = await callgateError(c.calls.list({}, { maxRetries: 0 }));
    assert.equal(error.code, 'TIMEOUT');
    assert.equal(error.status, 0);
  });

  test("a delete whose answer was lost is retried; the retry's 404 means done, any other 404 is thrown", async () => {
    const c = new Callgate({ baseUrl: proxy.url, apiKey: key.key, retry: fastRetry });
    const hook = () => c.webhooks.create({ url: 'http://127.0.0.1:9/hook', events: ['call.ended'] });
    const first = await hook();
    proxy.loseAnswers(1, '/v1/webhooks/');
    const from = proxy.requests.length;
    assert.equal(await c.webhooks.delete(first.id), undefined);
    const tries = proxy.requests.slice(from);
    assert.deepEqual(
      tries.map((r) => [r.method, r.status]),
      [
        ['DELETE', undefined],
        ['DELETE', 404],
      ],
      'the first attempt did the work; its answer never came',
    );
    // Without a lost answer a 404 is the server's word: the object was never there (a wrong id, say).
    assert.equal((await callgateError(c.webhooks.delete(first.id))).code, 'WEBHOOK_NOT_FOUND');
    // Nor is a 404 after an attempt the server answered (here a 503 that did nothing) taken for success.
    proxy.failNext(1, { status: 503, body: envelope('SERVICE_UNAVAILABLE', 'busy') }, '/v1/webhooks/');
    assert.equal((await callgateError(c.webhooks.delete(first.id))).code, 'WEBHOOK_NOT_FOUND');
    const second = await hook();
    proxy.loseAnswers(1, '/v1/webhooks/');
    assert.equal((await callgateError(c.webhooks.delete(second.id, { maxRetries: 0 }))).code, 'NETWORK_ERROR');
    assert.equal((await callgateError(c.webhooks.get(second.id))).code, 'WEBHOOK_NOT_FOUND', 'it was deleted');
  });

  test("a delete's 404 after a refused connection is thrown: a refused attempt sent nothing", async () => {
    // A port nothing listens on: the first attempt is refused (the server restarting, say), the retry reaches it.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    let attempts = 0;
    const c = new Callgate({
      baseUrl: proxy.url,
      apiKey: key.key,
      retry: fastRetry,
      fetch: (url, init) => {
        attempts++;
        return fetch(attempts === 1 ? String(url).replace(proxy.url, `http://127.0.0.1:${port}`) : url, init);
      },
    });
    // An id that never was (a typo): the server's 404 stands, whatever happened to the attempt before.
    const error = await callgateError(c.webhooks.delete('whk_01JNEVERWASAWEBHOOK0000000'));
    assert.equal(attempts, 2, 'refused, then retried');
    assert.equal(error.code, 'WEBHOOK_NOT_FOUND');
  });

  test('a refused connection is a NETWORK_ERROR, retried until the server is back', async () => {
    const c = new Callgate({
      baseUrl: proxy.url,
      apiKey: key.key,
      maxRetries: 5,
      retry: { baseDelayMs: 100, maxDelayMs: 200 },
    });
    proxy.setRefusing(true);
    const error = await callgateError(c.calls.list({}, { maxRetries: 0 }));
    assert.equal(error.code, 'NETWORK_ERROR');
    setTimeout(() => proxy.setRefusing(false), 250);
    assert.ok(Array.isArray((await c.calls.list()).calls));
  });

  test('aborting the signal stops a retry loop at once with ABORTED', async () => {
    const c = new Callgate({ baseUrl: proxy.url, apiKey: key.key });
    proxy.failNext(1, { status: 503, headers: { 'retry-after': '30' } });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const error = await callgateError(c.calls.list({}, { signal: controller.signal }));
    assert.equal(error.code, 'ABORTED');
    // At the abort (100 ms), not after the 30 s Retry-After.
    assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
  });

  test('an attempt that times out while the server still works is retried with its key until the stored answer comes', async () => {
    const to = `+${nextPeer()}`;
    live.fake.grantPermission(live.metaNumbers[0]!.phoneNumberId, to.slice(1), 'temporary');
    live.fake.inject({ action: 'connect', times: 1, latencyMs: 1500 }); // Meta is slow: the server's handler takes 1.5 s
    const c = new Callgate({
      baseUrl: proxy.url,
      apiKey: key.key,
      timeoutMs: 600,
      maxRetries: 8,
      retry: { baseDelayMs: 200, maxDelayMs: 400 },
    });
    const from = proxy.requests.length;
    const created = await c.calls.create({ to, sdp: CANNED_OFFER_SDP });
    const tries = proxy.requests.slice(from);
    assert.equal(tries[0]!.status, undefined, 'the first attempt timed out on the client');
    assert.ok(
      tries.some((r) => r.status === 409),
      'while it still ran, the server said IDEMPOTENCY_IN_PROGRESS',
    );
    assert.equal(tries.at(-1)!.status, 201);
    assert.equal(new Set(tries.map((r) => r.headers['idempotency-key'])).size, 1);
    assert.equal(live.fake.countRequests({ action: 'connect' }), 1, 'the user was called once');
    assert.equal((await c.calls.get(created.id)).direction, 'OUTBOUND');
    await c.calls.terminate(created.id);
  });

  test('Meta down behind the server (502 PROVIDER_UNAVAILABLE) is retried; the hang-up then goes through', async () => {
    const call = await live.incomingCall(0, key.key);
    const c = new Callgate({ baseUrl: live.url, apiKey: key.key, retry: fastRetry });
    await c.calls.accept(call.id, { sdp: CANNED_ANSWER_SDP });
    // The server's adapter retries an ending action once by itself: two failures make it answer 502.
    live.fake.inject({ action: 'terminate', times: 2, status: 500, error: { code: 1 } });
    const result = await c.calls.terminate(call.id);
    assert.equal(result.status, 'COMPLETED');
    assert.equal(live.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 3);
  });

  test("a provider refusal (502 PROVIDER_ERROR) is final: thrown after one attempt, with the provider's details", async () => {
    const call = await live.incomingCall(0, key.key);
    const c = new Callgate({ baseUrl: live.url, apiKey: key.key, retry: fastRetry });
    await c.calls.accept(call.id, { sdp: CANNED_ANSWER_SDP });
    live.fake.inject({
      action: 'terminate',
      times: 1,
      status: 401,
      error: { code: 190, message: '(#190) Invalid OAuth access token' },
    });
    const error = await callgateError(c.calls.terminate(call.id));
    assert.equal(error.status, 502);
    assert.equal(error.code, 'PROVIDER_ERROR');
    assert.equal(error.details?.providerCode, 190);
    assert.equal(live.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
    await c.calls.terminate(call.id);
  });
});

describe("retries on the server's own 429 (RATE_LIMIT_BURST=2, 1/s)", () => {
  let live: LiveServer;
  let proxy: FaultProxy;
  let key: IssuedKey;

  before(async () => {
    live = await startLiveServer({ env: { RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '2' } });
    proxy = await startFaultProxy(live.url);
    // The setup itself runs into the limit: the SDK's retries carry it through.
    const tenant = new Callgate({ baseUrl: live.url, apiKey: live.tenantKey.key });
    key = (await tenant.numbers.create(live.numberInput(0))).apiKey;
  });
  after(async () => {
    await proxy.close();
    await live.close();
  });

  test('without retries the third request in a burst is a typed 429 with Retry-After', async () => {
    const c = new Callgate({ baseUrl: live.url, apiKey: key.key, maxRetries: 0 });
    await c.calls.list();
    await c.calls.list();
    const error = await callgateError(c.calls.list());
    assert.equal(error.status, 429);
    assert.equal(error.code, 'RATE_LIMITED');
    assert.equal(error.message, 'Too many requests');
    assert.ok((error.retryAfterSeconds ?? 0) >= 1);
    assert.match(error.requestId ?? '', /.+/);
    await new Promise((r) => setTimeout(r, 2100)); // let the bucket refill for the next test
  });

  test('with retries a burst of five all succeed, each 429 followed by a wait of at least its Retry-After', async () => {
    const c = new Callgate({ baseUrl: proxy.url, apiKey: key.key, maxRetries: 5 });
    const from = proxy.requests.length;
    const results = [];
    for (let i = 0; i < 5; i++) {
      results.push(await c.webhooks.list());
    }
    assert.equal(results.length, 5);
    const tries = proxy.requests.slice(from);
    const limited = tries.filter((r) => r.status === 429);
    assert.ok(limited.length >= 1, `the burst ran into the limit (${tries.length} attempts)`);
    assert.equal(tries.filter((r) => r.status === 200).length, 5);
    for (const [i, r] of tries.entries()) {
      if (r.status !== 429) {
        continue;
      }
      const next = tries[i + 1]!;
      assert.ok(next.at - r.at >= 990, `a retry came ${next.at - r.at} ms after a 429 with Retry-After: 1`);
    }
  });

  test('a POST limited by 429 is retried with the same Idempotency-Key', async () => {
    const c = new Callgate({ baseUrl: proxy.url, apiKey: key.key, maxRetries: 5 });
    const drain = new Callgate({ baseUrl: live.url, apiKey: key.key, maxRetries: 0 });
    await drain.calls.list().catch(() => {});
    await drain.calls.list().catch(() => {});
    const from = proxy.requests.length;
    const created = await c.webhooks.create({ url: 'http://127.0.0.1:9/hook', events: [] });
    assert.match(created.id, /^whk_/);
    const posts = proxy.requests.slice(from);
    assert.deepEqual(
      posts.map((r) => r.status),
      [429, 201],
      'the first attempt was limited',
    );
    assert.equal(new Set(posts.map((r) => r.headers['idempotency-key'])).size, 1);
    assert.equal((await c.webhooks.list()).length, 1, 'one webhook, however many attempts');
  });
});
