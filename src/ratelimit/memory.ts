import type { RateLimitDecision, RateLimiter, RateLimitRule } from './types.ts';

interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets in this process (per-process limits; use the Redis limiter to share them). */
export class MemoryRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async take(key: string, rule: RateLimitRule): Promise<RateLimitDecision> {
    const now = this.#now();
    const id = `${rule.name}:${key}`;
    const bucket = this.#buckets.get(id) ?? { tokens: rule.burst, at: now };
    bucket.tokens = Math.min(rule.burst, bucket.tokens + ((now - bucket.at) / 1000) * rule.perSecond);
    bucket.at = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) {
      bucket.tokens -= 1;
    }
    this.#buckets.set(id, bucket);
    if (this.#buckets.size > 100_000) {
      this.#evictFull(now);
    }
    return decision(allowed, bucket.tokens, rule);
  }

  // Full buckets carry no information: dropping them bounds memory.
  #evictFull(now: number): void {
    for (const [id, b] of this.#buckets) {
      if (now - b.at > 60_000) {
        this.#buckets.delete(id);
      }
    }
  }

  async close(): Promise<void> {
    this.#buckets.clear();
  }
}

export function decision(allowed: boolean, tokens: number, rule: RateLimitRule): RateLimitDecision {
  return {
    allowed,
    remaining: Math.floor(tokens),
    resetSeconds: Math.ceil((rule.burst - tokens) / rule.perSecond),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / rule.perSecond)),
  };
}
