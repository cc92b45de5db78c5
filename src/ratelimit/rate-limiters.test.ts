// Token buckets: the memory limiter, and the Redis limiter shared by several processes (with TEST_REDIS_URL).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { assertRedisAnswers } from '../../test/helpers/redis.ts';
import { missing } from '../../test/helpers/requirements.ts';
import { createLogger } from '../logger.ts';
import { MemoryRateLimiter } from './memory.ts';
import { RedisRateLimiter } from './redis.ts';

const rule = { name: 'default', perSecond: 5, burst: 10 };

describe('memory rate limiter', () => {
  test('a burst is allowed, then one token per 1/rate seconds', async () => {
    let now = 0;
    const limiter = new MemoryRateLimiter(() => now);
    const results = [];
    for (let i = 0; i < 12; i++) {
      results.push((await limiter.take('k', rule)).allowed);
    }
    assert.deepEqual(results, [...Array(10).fill(true), false, false]);
    const refused = await limiter.take('k', rule);
    assert.equal(refused.retryAfterSeconds, 1);
    now += 200;
    assert.equal((await limiter.take('k', rule)).allowed, true);
    assert.equal((await limiter.take('k', rule)).allowed, false);
  });
  test('keys and rules have separate buckets', async () => {
    const limiter = new MemoryRateLimiter(() => 0);
    for (let i = 0; i < 10; i++) {
      await limiter.take('a', rule);
    }
    assert.equal((await limiter.take('a', rule)).allowed, false);
    assert.equal((await limiter.take('b', rule)).allowed, true);
    assert.equal((await limiter.take('a', { ...rule, name: 'terminate' })).allowed, true);
  });
});

const redisUrl = process.env.TEST_REDIS_URL ?? '';
describe('Redis rate limiter', { skip: missing('redis') }, () => {
  before(() => assertRedisAnswers(redisUrl));
  test('two processes sharing Redis do not grant twice the limit', async () => {
    const logger = createLogger('silent');
    const a = new RedisRateLimiter(redisUrl, logger);
    const b = new RedisRateLimiter(redisUrl, logger);
    try {
      const key = randomBytes(8).toString('hex');
      const strict = { name: 'default', perSecond: 0.01, burst: 20 };
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).take(key, strict)));
      assert.equal(results.filter((r) => r.allowed).length, 20);
      const refused = results.find((r) => !r.allowed)!;
      assert.ok(refused.retryAfterSeconds >= 1);
    } finally {
      await a.close();
      await b.close();
    }
  });
  test('an unreachable Redis fails open instead of refusing requests', async () => {
    const limiter = new RedisRateLimiter('redis://127.0.0.1:1', createLogger('silent'));
    try {
      assert.equal((await limiter.take('k', rule)).allowed, true);
    } finally {
      await limiter.close();
    }
  });
});
