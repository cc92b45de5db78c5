// GET /v1/events/stream as an async iterator: Server-Sent Events parsed by hand (EventSource cannot send an API
// key header), reconnecting with Last-Event-ID after any disconnect so no event is lost or repeated.
import { CallgateError } from './errors.ts';
import {
  errorFromResponse,
  isRetryableStatus,
  linkedController,
  networkError,
  retryDelayMs,
  sleep,
  type Transport,
} from './http.ts';
import type { CallEvent, DtmfEvent, PermissionUpdatedEvent, RecordingReadyEvent, StreamEventData } from './types.ts';

/** One event of the stream, with the payload `D`. */
export interface StreamEventOf<D extends StreamEventData> {
  /** The stream cursor: pass it as lastEventId to resume after this event. */
  id: string;
  /** The event name (`call.ended`, ...), as in the payload's `event`. */
  event: D['event'];
  /** The webhook payload. */
  data: D;
  /** The payload exactly as the server sent it (to forward or sign it byte for byte). */
  raw: string;
}

/** An event of the stream: checking `event` (`'call.ended'`, ...) narrows `data` to its payload. */
export type StreamEvent =
  | StreamEventOf<CallEvent>
  | StreamEventOf<PermissionUpdatedEvent>
  | StreamEventOf<RecordingReadyEvent>
  | StreamEventOf<DtmfEvent>;

export interface StreamOptions {
  /** Resume after this cursor; without it the stream starts with events recorded after it connects. */
  lastEventId?: string;
  /** Ends the stream (the iterator finishes; it does not throw). */
  signal?: AbortSignal;
  /** Reconnect after a disconnect (default true). When false, the iterator ends when the connection does. */
  reconnect?: boolean;
  /** Wait before reconnecting; default: the server's `retry:` (2 s), growing with repeated failures. */
  reconnectDelayMs?: number;
  /** Reconnect when nothing (not even the server's 15 s keep-alive) arrived for this long (default 45 s). */
  idleTimeoutMs?: number;
  /** Called each time the stream is (re)connected, with the cursor it resumes from. */
  onOpen?: (info: { lastEventId: string | null; reconnects: number }) => void;
  /** Called when a connection is lost and a reconnect is scheduled. */
  onDisconnect?: (info: { error: CallgateError | null; delayMs: number }) => void;
}

interface SseBlock {
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
}

/** Splits a byte stream into SSE events (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export async function* parseSse(
  body: ReadableStream<Uint8Array>,
  onChunk: () => void = () => {},
): AsyncGenerator<SseBlock> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  let block: SseBlock = {};
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        return;
      }
      onChunk();
      pending += decoder.decode(value, { stream: true });
      // A CR at the very end may be the first half of a CRLF: keep it for the next chunk.
      const cut = pending.endsWith('\r') ? pending.length - 1 : pending.length;
      const lines = pending.slice(0, cut).replace(/\r\n?/g, '\n').split('\n');
      pending = (lines.pop() ?? '') + pending.slice(cut);
      for (const line of lines) {
        if (line === '') {
          if (data.length > 0) {
            yield { ...block, data: data.join('\n') };
          } else if (block.retry !== undefined || block.id !== undefined) {
            yield block;
          }
          block = {};
          data = [];
          continue;
        }
        if (line.startsWith(':')) {
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) {
          value = value.slice(1);
        }
        if (field === 'data') {
          data.push(value);
        } else if (field === 'event') {
          block.event = value;
        } else if (field === 'id' && !value.includes('\0')) {
          block.id = value;
        } else if (field === 'retry' && /^\d+$/.test(value)) {
          block.retry = Number(value);
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

export class EventStream implements AsyncIterable<StreamEvent> {
  /** The cursor of the last event handed out (resume from it after a crash of your own). */
  lastEventId: string | null;
  readonly #transport: Transport;
  readonly #opts: StreamOptions;
  readonly #closer = new AbortController();
  #started = false;

  constructor(transport: Transport, opts: StreamOptions = {}) {
    this.#transport = transport;
    this.#opts = opts;
    this.lastEventId = opts.lastEventId ?? null;
  }

  /** Ends the stream: a pending `next()` resolves as done. Breaking out of `for await` does the same. */
  close(): void {
    this.#closer.abort();
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    if (this.#started) {
      throw new Error('an EventStream can be iterated once');
    }
    this.#started = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<StreamEvent> {
    const opts = this.#opts;
    const { controller: life, unlink } = linkedController(opts.signal);
    const onClose = () =>
      life.abort(new CallgateError({ message: 'The stream was closed', code: 'ABORTED', status: 0 }));
    this.#closer.signal.addEventListener('abort', onClose, { once: true });
    const idleTimeoutMs = opts.idleTimeoutMs ?? 45_000;
    let retryMs = 2_000;
    let failures = 0;
    let reconnects = 0;
    try {
      for (;;) {
        if (life.signal.aborted) {
          return;
        }
        const { controller: conn, unlink: unlinkConn } = linkedController(life.signal);
        let idle: ReturnType<typeof setTimeout> | undefined;
        const arm = () => {
          clearTimeout(idle);
          idle = setTimeout(
            () =>
              conn.abort(new CallgateError({ message: `No data for ${idleTimeoutMs} ms`, code: 'TIMEOUT', status: 0 })),
            idleTimeoutMs,
          );
        };
        let lost: CallgateError | null = null;
        let retryAfter: number | null = null;
        try {
          arm();
          const headers = this.#transport.headers({ accept: 'text/event-stream', 'cache-control': 'no-cache' });
          if (this.lastEventId !== null) {
            headers['last-event-id'] = this.lastEventId;
          }
          const res = await this.#transport.options.fetch(this.#transport.url('/v1/events/stream'), {
            method: 'GET',
            headers,
            // Never followed, as every request of the client (http.ts): the key would go along.
            redirect: 'manual',
            signal: conn.signal,
          });
          if (!res.ok) {
            const error = await errorFromResponse(res);
            if (!isRetryableStatus(error.status, error.code) && error.status < 500) {
              throw error;
            }
            lost = error;
            retryAfter = error.retryAfterSeconds;
          } else if (!res.body) {
            throw new CallgateError({
              message: 'The event stream has no body',
              code: 'INVALID_RESPONSE',
              status: res.status,
            });
          } else {
            opts.onOpen?.({ lastEventId: this.lastEventId, reconnects });
            for await (const block of parseSse(res.body, arm)) {
              if (block.retry !== undefined) {
                retryMs = block.retry;
              }
              if (block.data === undefined) {
                continue;
              }
              if (block.id !== undefined) {
                this.lastEventId = block.id;
              }
              let data: StreamEventData;
              try {
                data = JSON.parse(block.data) as StreamEventData;
              } catch {
                continue; // not an event of ours
              }
              failures = 0;
              clearTimeout(idle); // the consumer's time is not the server's silence
              // The SSE event name is the payload's own `event`, so the pair is one member of the union.
              yield { id: block.id ?? '', event: block.event ?? data.event, data, raw: block.data } as StreamEvent;
              arm();
            }
          }
        } catch (caught) {
          if (life.signal.aborted) {
            return;
          }
          if (caught instanceof CallgateError && (caught.status !== 0 || caught.code === 'REDIRECTED')) {
            throw caught;
          }
          const reason = conn.signal.reason;
          lost =
            reason instanceof CallgateError
              ? reason
              : caught instanceof CallgateError
                ? caught
                : networkError(this.#transport.options.baseUrl, caught);
        } finally {
          clearTimeout(idle);
          conn.abort();
          unlinkConn();
        }
        if (opts.reconnect === false) {
          if (lost) {
            throw lost;
          }
          return;
        }
        const base = opts.reconnectDelayMs ?? retryMs;
        const delayMs =
          retryAfter !== null
            ? retryDelayMs(0, retryAfter, this.#transport.options.retry)
            : Math.min(base * 2 ** failures, Math.max(base, 30_000)) * (0.8 + Math.random() * 0.4);
        failures += 1;
        reconnects += 1;
        opts.onDisconnect?.({ error: lost, delayMs });
        try {
          await sleep(delayMs, life.signal);
        } catch {
          return;
        }
      }
    } finally {
      this.#closer.signal.removeEventListener('abort', onClose);
      unlink();
    }
  }
}
