import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { decision } from './memory.ts';
import type { RateLimitDecision, RateLimiter, RateLimitRule } from './types.ts';

// One atomic token-bucket step in Redis, on Redis's own clock so processes never disagree on time.
const TAKE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then tokens = burst; at = now end
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return { allowed, tostring(tokens) }
`;

/**
 * Limits shared by every process using the same Redis. When Redis is unreachable the limiter
 * fails open (and says so in the logs): losing rate limiting is better than refusing every hang-up.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly #redis: Redis;
  readonly #logger: Logger;
  #lastWarning = 0;

  constructor(url: string, logger: Logger) {
    this.#redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 500, connectTimeout: 2000 });
    this.#redis.on('error', () => undefined); // reported per request below, not as unhandled events
    this.#redis.defineCommand('takeToken', { numberOfKeys: 1, lua: TAKE });
    this.#logger = logger;
  }

  async take(key: string, rule: RateLimitRule): Promise<RateLimitDecision> {
    try {
      const [allowed, tokens] = await (
        this.#redis as Redis & { takeToken(k: string, r: number, b: number): Promise<[number, string]> }
      ).takeToken(`callgate:rl:${rule.name}:${key}`, rule.perSecond, rule.burst);
      return decision(allowed === 1, Number(tokens), rule);
    } catch (error) {
      if (Date.now() - this.#lastWarning > 10_000) {
        this.#lastWarning = Date.now();
        this.#logger.warn({ err: (error as Error).message }, 'rate limiter: Redis unavailable, allowing requests');
      }
      return decision(true, rule.burst - 1, rule);
    }
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
