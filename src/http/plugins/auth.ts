// Resolves the key once per request into a scoped principal, checks the route's required scope,
// then takes a token from the key's rate-limit bucket (docs/spec/calls-api.md §4.2: auth → scope → rate limit).

import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hashCredential } from '../../auth/keys.ts';
import { type AuthRequirement, type Principal, principalForKey, scopeRefusal } from '../../auth/principal.ts';
import type { Config } from '../../config.ts';
import { ApiError } from '../../errors.ts';
import type { RateLimiter, RateLimitRule } from '../../ratelimit/types.ts';
import { type ApiKeyRecord, findApiKeyByIdHash, findApiKeyBySecretHash, touchApiKey } from '../../store/api-keys.ts';
import type { Db } from '../../store/db.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthRequirement;
    rateLimit?: 'default' | 'terminate';
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface AuthDeps {
  db: Db;
  config: Pick<Config, 'apiKeyIdAuth' | 'rateLimit' | 'terminateRateLimit'>;
  rateLimiter: RateLimiter;
  now: () => Date;
}

const TOUCH_EVERY_MS = 60_000;

export function registerAuth(app: FastifyInstance, deps: AuthDeps): void {
  app.decorateRequest('principal', null);
  const rules: Record<'default' | 'terminate', RateLimitRule> = {
    default: { name: 'default', ...deps.config.rateLimit },
    terminate: { name: 'terminate', ...deps.config.terminateRateLimit },
  };
  const lastTouched = new Map<string, number>();

  async function findKey(request: FastifyRequest): Promise<ApiKeyRecord | null> {
    const secret = header(request, 'x-api-key');
    if (secret !== undefined) {
      return verified(await findApiKeyBySecretHash(deps.db, hashCredential(secret)), 'secretHash', secret);
    }
    const id = deps.config.apiKeyIdAuth ? header(request, 'x-api-key-id') : undefined;
    if (id !== undefined) {
      return verified(await findApiKeyByIdHash(deps.db, hashCredential(id)), 'idHash', id);
    }
    return null;
  }

  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    const requirement = request.routeOptions.config.auth ?? 'none';
    if (requirement === 'none') {
      return;
    }
    const key = await findKey(request);
    if (!key) {
      throw new ApiError('UNAUTHORIZED');
    }
    const principal = principalForKey(key);
    const refusal = scopeRefusal(requirement, principal);
    if (refusal) {
      throw new ApiError(refusal);
    }
    request.principal = principal;

    const rule = rules[request.routeOptions.config.rateLimit ?? 'default'];
    const decision = await deps.rateLimiter.take(key.idHash, rule);
    const window = Math.max(1, Math.ceil(rule.burst / rule.perSecond));
    reply.header('ratelimit-policy', `"${rule.name}";q=${rule.burst};w=${window}`);
    reply.header('ratelimit', `"${rule.name}";r=${decision.remaining};t=${decision.resetSeconds}`);
    if (!decision.allowed) {
      throw new ApiError('RATE_LIMITED', { headers: { 'retry-after': String(decision.retryAfterSeconds) } });
    }
    touch(key);
  });

  // last_used_at is informative: written at most once a minute per key, never on the request's path.
  function touch(key: ApiKeyRecord): void {
    const now = deps.now();
    const last = lastTouched.get(key.idHash) ?? 0;
    if (now.getTime() - last < TOUCH_EVERY_MS) {
      return;
    }
    lastTouched.set(key.idHash, now.getTime());
    touchApiKey(deps.db, key.idHash, now.toISOString()).catch((err) =>
      app.log.warn({ err: err.message }, 'could not record key use'),
    );
  }
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' && value.length > 0 && value.length <= 512 ? value : undefined;
}

// The lookup is by hash; the final comparison is constant-time all the same.
function verified(key: ApiKeyRecord | null, field: 'secretHash' | 'idHash', presented: string): ApiKeyRecord | null {
  if (!key) {
    return null;
  }
  const a = Buffer.from(key[field], 'hex');
  const b = Buffer.from(hashCredential(presented), 'hex');
  return a.length === b.length && timingSafeEqual(a, b) ? key : null;
}
