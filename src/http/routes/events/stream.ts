// GET /v1/events/stream: Server-Sent Events with the same payloads as webhooks, resumable with Last-Event-ID.

import { ApiError } from '../../../errors.ts';
import { findApiKeyByIdHash } from '../../../store/api-keys.ts';
import { isValidCursor, latestCursor, readEventsAfter, type StreamScope } from '../../../store/event-stream.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { principalOf } from '../principal.ts';

const POLL_MS = 100;
const HEARTBEAT_MS = 15_000;
/** An idle stream re-checks its key this often; a stream about to send events checks it first. */
const KEY_CHECK_MS = 1_000;

export function eventStreamRoute(app: App, deps: RouteDeps): void {
  const open = new Set<() => void>();
  /** Open streams per key (by key hash) in this process: EVENT_STREAMS_PER_KEY caps them. */
  const perKey = new Map<string, number>();
  // Streams never end by themselves: close them when the server shuts down, or close() would wait forever.
  app.addHook('preClose', async () => {
    for (const end of [...open]) {
      end();
    }
  });

  app.get(
    '/v1/events/stream',
    {
      // A HEAD of a stream that never ends would never be answered.
      exposeHeadRoute: false,
      config: { auth: 'any' },
      schema: {
        tags: ['Events'],
        summary: 'Live event stream (SSE)',
        operationId: 'streamEvents',
        description:
          'text/event-stream of call.* events with the webhook payloads; `id:` is a cursor for Last-Event-ID. ' +
          'A number key streams its number, a tenant key every number of the tenant. The stream ends within a ' +
          'second or two of its key being regenerated or revoked or its number deleted. At most ' +
          'EVENT_STREAMS_PER_KEY streams per key are open at once (per process); one more is 429.',
        security: NUMBER_SECURITY,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ maxLength: 64 })) }),
        querystring: Type.Object({ lastEventId: Type.Optional(Type.String({ maxLength: 64 })) }),
        response: {
          200: {
            description: 'Server-Sent Events: `id:` cursor, `event:` call.*, `data:` the webhook payload',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...errorResponses('VALIDATION_ERROR', ...AUTH_ERRORS, 'STORE_UNAVAILABLE'),
        },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const scope: StreamScope = p.scope === 'number' ? { numberId: p.numberId } : { tenantId: p.tenantId };
      const given = request.headers['last-event-id'] ?? request.query.lastEventId;
      if (given !== undefined && !isValidCursor(deps.db, given)) {
        throw new ApiError('VALIDATION_ERROR', { details: { reason: 'Last-Event-ID is not a cursor of this stream' } });
      }
      let cursor = given ?? (await latestCursor(deps.db, scope));
      const limit = deps.config.eventStreamsPerKey;
      if ((perKey.get(p.keyHash) ?? 0) >= limit) {
        throw new ApiError('RATE_LIMITED', {
          message: 'Too many open event streams for this key',
          details: { openStreamsLimit: limit },
          headers: { 'retry-after': '5' },
        });
      }
      perKey.set(p.keyHash, (perKey.get(p.keyHash) ?? 0) + 1);

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
        ...(reply.getHeaders() as Record<string, string>),
      });
      res.write(`retry: 2000\n: connected\n\n`);

      let closed = false;
      let timer: NodeJS.Timeout | null = null;
      let lastWrite = Date.now();
      let keyCheckedAt = Date.now();
      const end = () => {
        if (closed) {
          return;
        }
        closed = true;
        if (timer) {
          clearTimeout(timer);
        }
        open.delete(end);
        const left = (perKey.get(p.keyHash) ?? 1) - 1;
        if (left > 0) {
          perKey.set(p.keyHash, left);
        } else {
          perKey.delete(p.keyHash);
        }
        res.end();
      };
      // A regenerated or revoked key, or a deleted number, deletes the key's row: in every process at once.
      const keyRevoked = async () => {
        keyCheckedAt = Date.now();
        return (await findApiKeyByIdHash(deps.db, p.keyHash)) === null;
      };
      open.add(end);
      request.raw.on('close', end);
      reply.raw.on('close', end);
      // The client may have hung up during the awaits above, before these listeners existed: no close will come.
      if (request.raw.destroyed || reply.raw.destroyed) {
        end();
        return;
      }

      const pump = async () => {
        try {
          for (;;) {
            const batch = await readEventsAfter(deps.db, scope, cursor, 200);
            if ((batch.length > 0 || Date.now() - keyCheckedAt >= KEY_CHECK_MS) && (await keyRevoked())) {
              request.log.info('event stream ended: its key no longer works');
              end();
              return;
            }
            for (const e of batch) {
              // Pilot's raw `calls` events are for webhooks doing WebRTC signaling; the stream carries call.* only.
              if (e.type !== 'calls') {
                res.write(`id: ${e.cursor}\nevent: ${e.type}\ndata: ${e.payload}\n\n`);
              }
              cursor = e.cursor;
              lastWrite = Date.now();
            }
            if (batch.length < 200) {
              break;
            }
          }
          if (Date.now() - lastWrite > HEARTBEAT_MS) {
            res.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
        } catch (error) {
          request.log.warn({ err: (error as Error).message }, 'event stream read failed; will retry');
        }
        if (!closed) {
          timer = setTimeout(pump, POLL_MS);
        }
      };
      await pump();
    },
  );
}
