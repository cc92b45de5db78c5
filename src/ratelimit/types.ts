export interface RateLimitRule {
  name: string;
  perSecond: number;
  burst: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until one request is allowed again (0 when allowed). */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  take(key: string, rule: RateLimitRule): Promise<RateLimitDecision>;
  close(): Promise<void>;
}
