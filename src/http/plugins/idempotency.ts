// Idempotency-Key on every authenticated POST (docs/spec/calls-api.md §3, Stripe semantics): a replay returns the
// stored response; the same key with another request → 422; while the first runs → 409, except terminate,
// which waits for the first and answers with its response.
//
// Stored responses are sealed with the at-rest key of provider credentials (auth/secret-box.ts): some carry secrets
// shown once (a number's key, a regenerated key, a webhook's signing secret) that a replay must show again, and none
// of them may sit in clear in the database files, the WAL or a backup. All are sealed, so no route can forget to ask.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SecretBox } from '../../auth/secret-box.ts';
import { ApiError } from '../../errors.ts';
import type { Db, OnStored } from '../../store/db.ts';
import {
  completeIdempotencyKey,
  forgetIdempotencyKey,
  readIdempotencyKey,
  relockIdempotencyKey,
  tryLockIdempotencyKey,
} from '../../store/idempotency.ts';
import { isStoreUnavailable } from '../../store/unavailable.ts';
import { NUMBER_HEADER } from '../routes/number-header.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    idempotency?: 'reject-concurrent' | 'wait-concurrent';
  }
  interface FastifyRequest {
    /** The key this request holds, locked at `lockedAt`. */
    idempotency: { scope: string; key: string; lockedAt: string } | null;
    /**
     * With a key held: stores `body` as the key's answer in the handler's own transaction `tx`, so a process killed
     * between that commit and its response still answers a retry with it instead of acting again. The answer
     * actually sent replaces it.
     */
    commitIdempotency: ((tx: Db, status: number, body: string) => Promise<void>) | null;
  }
}

const KEEP_MS = 24 * 60 * 60 * 1000;

/**
 * What makes two requests "the same": route, path params, body and, for a tenant key, the number its
 * x-whatsapp-number-id names (it picks the target like the body does: another number is another request).
 */
function fingerprintOf(request: FastifyRequest): string {
  const named = request.principal?.scope === 'tenant' ? (request.headers[NUMBER_HEADER] ?? null) : null;
  let text: string;
  try {
    const parts = [request.routeOptions.url, request.params ?? null, request.body ?? null];
    // Appended only when sent: records stored before the header counted keep matching their retries.
    text = JSON.stringify(named === null ? parts : [...parts, named]);
  } catch {
    // A body nested deeper than the stack allows is no request we can compare: refuse it plainly.
    throw new ApiError('VALIDATION_ERROR', { details: { reason: 'request body is nested too deeply' } });
  }
  return createHash('sha256').update(text).digest('hex');
}
/** A response that tells the client to try again later. */
function isRetryable(status: number): boolean {
  return status >= 500 || status === 429;
}

const WAIT_POLL_MS = 25;

export interface IdempotencyDeps {
  db: Db;
  box: SecretBox;
  now: () => Date;
  /** How long a request on a waiting route waits for the one holding its key. */
  maxWaitMs: number;
  /**
   * A key still "in progress" after this long belonged to a process that died: it may be taken over. Longer than
   * any request runs, or a slow one's action would be made twice.
   */
  abandonedAfterMs: number;
}

/** Sealed bodies are "v1:…"; a JSON body stored in clear before sealing existed starts with "{" or "[". */
function openBody(box: SecretBox, stored: string | null): string | null {
  return stored?.startsWith('v1:') ? box.open(stored) : stored;
}

/**
 * The stored answer, opened. One sealed with a SECRET_KEY this process lacks (written by a process already given a new
 * key, while SECRET_KEY is replaced) is a 503 to retry, which a process with that key can answer: never a 500, and
 * never running the request again (it did what it did).
 */
function replayBody(request: FastifyRequest, box: SecretBox, stored: string | null): string | null {
  try {
    return openBody(box, stored);
  } catch {
    request.log.warn('an Idempotency-Key answer sealed with another SECRET_KEY: answered 503 to retry');
    throw new ApiError('SERVICE_UNAVAILABLE', {
      message: 'The stored answer of this Idempotency-Key was sealed with a SECRET_KEY this server does not have',
      headers: { 'retry-after': '5' },
    });
  }
}

export function registerIdempotency(app: FastifyInstance, deps: IdempotencyDeps): void {
  app.decorateRequest('idempotency', null);
  app.decorateRequest('commitIdempotency', null);
  const retries = new BackgroundRetries();

  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== 'POST' || !request.principal) {
      return;
    }
    const raw = request.headers['idempotency-key'];
    if (raw === undefined) {
      return;
    }
    const key = Array.isArray(raw) ? (raw[0] ?? '') : raw;
    if (key.length === 0 || key.length > 255) {
      throw new ApiError('VALIDATION_ERROR', { details: { reason: 'Idempotency-Key must be 1 to 255 characters' } });
    }
    const scope = request.principal.keyHash;
    const fingerprint = fingerprintOf(request);
    const waits = request.routeOptions.config.idempotency === 'wait-concurrent';
    const deadline = Date.now() + deps.maxWaitMs;
    /** This request found the key in progress and waited for that request's answer. */
    let waited = false;

    for (;;) {
      const now = deps.now();
      const expiresAt = new Date(now.getTime() + KEEP_MS).toISOString();
      if (await tryLockIdempotencyKey(deps.db, scope, key, fingerprint, now.toISOString(), expiresAt)) {
        own(request, deps, { scope, key, lockedAt: now.toISOString() });
        return;
      }
      const record = await readIdempotencyKey(deps.db, scope, key);
      if (!record) {
        continue; // forgotten meanwhile: try to own it again
      }
      const expired = record.expiresAt <= now.toISOString();
      const abandoned =
        record.state === 'IN_PROGRESS' && Date.parse(record.lockedAt) < now.getTime() - deps.abandonedAfterMs;
      // A failure that says "try again" is kept only for the requests that waited on it: a later retry runs again.
      const retryAgain = record.state === 'DONE' && !waited && isRetryable(record.responseStatus ?? 200);
      if (expired || abandoned || retryAgain) {
        if (
          await relockIdempotencyKey(deps.db, scope, key, record.lockedAt, fingerprint, now.toISOString(), expiresAt)
        ) {
          own(request, deps, { scope, key, lockedAt: now.toISOString() });
          return;
        }
        continue;
      }
      if (record.fingerprint !== fingerprint) {
        throw new ApiError('IDEMPOTENCY_KEY_REUSED');
      }
      if (record.state === 'DONE') {
        return reply
          .code(record.responseStatus ?? 200)
          .header('idempotent-replayed', 'true')
          .type('application/json; charset=utf-8')
          .send(replayBody(request, deps.box, record.responseBody));
      }
      if (!waits || Date.now() > deadline) {
        throw new ApiError('IDEMPOTENCY_IN_PROGRESS');
      }
      waited = true;
      await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
    }
  });

  // Stored once the response is known. Failures that say "try again" (5xx, 429) are not replayed to a later retry with
  // the same key, which runs again. On routes whose concurrent requests wait (terminate), they are kept for those
  // waiters all the same: a waiter answers with the first request's response rather than acting a second time
  // (docs/spec/calls-api.md §3, §4.6).
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const owned = request.idempotency;
    if (!owned) {
      return payload;
    }
    request.idempotency = null;
    request.commitIdempotency = null;
    const status = reply.statusCode;
    const waits = request.routeOptions.config.idempotency === 'wait-concurrent';
    const { scope, key, lockedAt } = owned;
    const sealed = typeof payload === 'string' && !(isRetryable(status) && !waits) ? deps.box.seal(payload) : null;
    const write = () =>
      sealed === null
        ? forgetIdempotencyKey(deps.db, scope, key, lockedAt)
        : completeIdempotencyKey(deps.db, scope, key, lockedAt, status, sealed);
    try {
      await write();
    } catch (error) {
      // The handler has committed: its answer (maybe a secret shown once) must reach the client. The record stays
      // IN_PROGRESS meanwhile, so a retry with this key waits (or is 409): a store that is away is asked again until
      // it takes the record, or the retry would wait until the key counts as abandoned, long after the store is back.
      request.log.error({ err: (error as Error).message }, 'idempotency record not completed; answering anyway');
      if (isStoreUnavailable(error)) {
        retries.later(write, Date.now() + deps.abandonedAfterMs);
      }
    }
    return payload;
  });
  app.addHook('onClose', async () => retries.stop());
}

/** Writes of idempotency records the store refused, tried again in the background (200 ms doubling to 2 s). */
class BackgroundRetries {
  readonly #timers = new Set<NodeJS.Timeout>();

  later(write: () => Promise<void>, giveUpAt: number, delay = 200): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      write().catch((error) => {
        if (isStoreUnavailable(error) && Date.now() + delay < giveUpAt) {
          this.later(write, giveUpAt, Math.min(delay * 2, 2_000));
        }
      });
    }, delay);
    timer.unref();
    this.#timers.add(timer);
  }

  /** The app closes, and its store with it: nothing left to retry against. */
  stop(): void {
    for (const timer of this.#timers) {
      clearTimeout(timer);
    }
    this.#timers.clear();
  }
}

function own(request: FastifyRequest, deps: IdempotencyDeps, held: { scope: string; key: string; lockedAt: string }) {
  request.idempotency = held;
  request.commitIdempotency = (tx, status, body) =>
    completeIdempotencyKey(tx, held.scope, held.key, held.lockedAt, status, deps.box.seal(body));
}

/**
 * With a key held: writes what a creation stored, as the route's `status` answer serializes it, as the key's answer
 * in the transaction that stores it (undefined without a key). A process killed between that commit and its
 * response then answers a retry with it instead of creating the object again.
 */
export function answerOnStored<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  bodyOf: (stored: T) => object = (stored) => stored as object,
): OnStored<T> | undefined {
  const commit = request.commitIdempotency;
  if (!commit) {
    return undefined;
  }
  // The serializer the response goes through: a replay sends the stored text as it is.
  const serialize = reply.getSerializationFunction(String(status)) ?? JSON.stringify;
  return (tx, stored) => commit(tx, status, serialize(bodyOf(stored) as Record<string, unknown>));
}
