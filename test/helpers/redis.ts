// The Redis suites fail open by design (an unreachable Redis grants every request), so a Redis that is not there
// would read as "limits are not shared": check it answers first, and say so plainly when it does not.
import { Redis } from 'ioredis';

export async function assertRedisAnswers(url: string): Promise<void> {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    const pong = await redis.ping();
    if (pong !== 'PONG') {
      throw new Error(`answered ${pong}`);
    }
  } catch (error) {
    throw new Error(`TEST_REDIS_URL (${url}) does not answer: ${(error as Error).message}`);
  } finally {
    redis.disconnect();
  }
}
