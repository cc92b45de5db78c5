// Per-key token buckets, terminate in its own bucket, 429 with the seed's body and the IETF headers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../../test/helpers/build-test-app.ts';
import { callIn } from '../../../test/helpers/calls.ts';
import { ManualClock } from '../../../test/helpers/manual-clock.ts';
import { assertMatchesSeed, seedErrorText } from '../../../test/helpers/seed-spec.ts';
import { storeKinds } from '../../../test/helpers/stores.ts';

for (const kind of storeKinds()) {
  describe(`rate limits [${kind}]`, () => {
    let t: TestApp;
    const clock = new ManualClock(Date.now());
    before(async () => {
      t = await buildTestApp(kind, {
        rateLimitClock: clock,
        env: {
          RATE_LIMIT_PER_SECOND: '1',
          RATE_LIMIT_BURST: '3',
          TERMINATE_RATE_LIMIT_PER_SECOND: '1',
          TERMINATE_RATE_LIMIT_BURST: '4',
        },
      });
    });
    after(() => t.close());

    const list = (key: string) => t.app.inject({ url: '/v1/calls?limit=1', headers: { 'x-api-key': key } });
    const terminate = (key: string, id: string) =>
      t.app.inject({ method: 'POST', url: `/v1/calls/${id}/terminate`, headers: { 'x-api-key': key } });

    test('successful responses carry RateLimit-Policy and RateLimit headers', async () => {
      clock.advance(60_000);
      const res = await list(t.numberA.key.key);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['ratelimit-policy'], '"default";q=3;w=3');
      assert.match(String(res.headers.ratelimit), /^"default";r=2;t=\d+$/);
    });

    test("over the limit → 429 with the seed's body, Retry-After and the headers; other keys unaffected", async () => {
      clock.advance(60_000);
      for (let i = 0; i < 3; i++) {
        assert.equal((await list(t.numberA.key.key)).statusCode, 200);
      }
      const res = await list(t.numberA.key.key);
      assert.equal(res.statusCode, 429);
      const body = res.json();
      assertMatchesSeed(429, body);
      assert.equal(body.error, seedErrorText(429));
      assert.equal(body.code, 'RATE_LIMITED');
      assert.equal(res.headers['retry-after'], '1');
      assert.match(String(res.headers.ratelimit), /^"default";r=0;t=\d+$/);
      assert.equal((await list(t.numberB.key.key)).statusCode, 200, 'another key has its own bucket');
      clock.advance(1000);
      assert.equal((await list(t.numberA.key.key)).statusCode, 200, 'a token comes back after Retry-After');
    });

    test('reads can never starve a hang-up: terminate has its own bucket', async () => {
      clock.advance(60_000);
      const call = await callIn(t, 'ACCEPTED');
      while ((await list(t.numberA.key.key)).statusCode !== 429) {
        /* drain the default bucket */
      }
      const res = await terminate(t.numberA.key.key, call.id);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['ratelimit-policy'], '"terminate";q=4;w=4');
    });

    test("terminate over its own limit → 429 with the seed's body", async () => {
      clock.advance(60_000);
      let res = await terminate(t.numberB.key.key, 'call_unknown');
      for (let i = 1; i < 5; i++) {
        res = await terminate(t.numberB.key.key, 'call_unknown');
      }
      assert.equal(res.statusCode, 429);
      const body = res.json();
      assertMatchesSeed(429, body);
      // The seed YAML's 429 is terminate's own: its text is binding on this route, not only on the others.
      assert.equal(body.error, seedErrorText(429));
      assert.equal(body.code, 'RATE_LIMITED');
      assert.equal(res.headers['retry-after'], '1');
      assert.equal(res.headers['ratelimit-policy'], '"terminate";q=4;w=4');
      assert.match(String(res.headers.ratelimit), /^"terminate";r=0;t=\d+$/);
    });
  });
}
