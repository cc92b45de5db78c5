// A realtime media session as PCM: iterate the caller's audio (16 kHz mono 16-bit frames of 20 ms) and send
// audio of the same shape back, over callgate's WebSocket in the pcm16 framing. Browser and Node; nothing
// Node-only. Node 20 has no global WebSocket, so the class can be given (the `ws` package's speaks the same API).
import { CallgateError } from './errors.ts';

/** 16 kHz, mono, 16-bit: what frames carry both ways. */
export const REALTIME_SAMPLE_RATE = 16_000;
const MAX_BUFFERED_FRAMES = 500;
// The server takes at most 10 s of audio in one binary message (and closes the socket with 1009 past 1 MiB):
// longer audio is sent as several messages of at most 1 s each.
const MAX_SEND_SAMPLES = REALTIME_SAMPLE_RATE;

/** What the stream uses of a WebSocket: the WHATWG API, as browsers, Node >= 22 and the `ws` package have it. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: ArrayBuffer | string): void;
  close(code?: number): void;
}
/** A WebSocket class: `globalThis.WebSocket` (the default), or `WebSocket` from the `ws` package on Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface RealtimeOptions {
  /** The WebSocket class to connect with (default: the global one; Node 20 has none: pass the `ws` package's). */
  WebSocket?: WebSocketConstructor;
  /** Gives up opening the socket after this long (default 10 s): a stalled upgrade would otherwise hang for good. */
  openTimeoutMs?: number;
  /** Aborts opening the socket (the stream, once open, is ended with `close()`). */
  signal?: AbortSignal;
}

const OPEN_TIMEOUT_MS = 10_000;

/** The handlers openRealtime sets, with just the event fields it reads. */
interface HandledSocket extends WebSocketLike {
  onopen: (() => void) | null;
  onerror: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number }) => void) | null;
}

const OPEN = 1;

/** The WebSocket class to use, or a TypeError saying how to get one (thrown before any token is spent). */
export function webSocketClass(given?: WebSocketConstructor): WebSocketConstructor {
  const found = given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof found !== 'function') {
    throw new TypeError(
      'No WebSocket class: this runtime has no global WebSocket (Node 20); pass one, e.g. ' +
        "`new Callgate({ ..., WebSocket })` or `openRealtime(wsUrl, { WebSocket })` with `import { WebSocket } from 'ws'`",
    );
  }
  return found;
}

export interface RealtimeStream extends AsyncIterable<Int16Array> {
  /**
   * Audio for the caller (any length, sent as messages of at most 1 s; 320 samples is one 20 ms frame). Ignored
   * by `listen` sessions.
   */
  send(pcm: Int16Array): void;
  /** Reached once what was sent before it has been played (or cleared): `onMark` hears its name. */
  mark(name: string): void;
  /** Drops what was sent and not yet played. */
  clear(): void;
  onMark?: (name: string) => void;
  /** Each key the caller presses (0–9, *, #, A–D), once, in order with the audio around it. */
  onDigit?: (digit: string) => void;
  /** Ends the session from this side. */
  close(): void;
  /** Resolves when the socket closes, with its close code (1000 when the call ended). */
  readonly closed: Promise<number>;
  /** Why the server ended the session (its `stop` event: the call ended, the session was replaced, ...), or null. */
  readonly stopReason: string | null;
}

/** Opens `wsUrl` (from `calls.realtimeSession`) in the pcm16 framing. Resolves once the socket is open. */
export async function openRealtime(wsUrl: string, opts: RealtimeOptions = {}): Promise<RealtimeStream> {
  const Socket = webSocketClass(opts.WebSocket);
  const socket = new Socket(`${wsUrl}${wsUrl.includes('?') ? '&' : '?'}format=pcm16`) as HandledSocket;
  socket.binaryType = 'arraybuffer';
  const frames: Int16Array[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  let stopReason: string | null = null;
  let resolveClosed: (code: number) => void = () => undefined;
  const closed = new Promise<number>((resolve) => {
    resolveClosed = resolve;
  });
  const stream: RealtimeStream = {
    send(pcm) {
      if (socket.readyState === OPEN) {
        for (let at = 0; at < pcm.length; at += MAX_SEND_SAMPLES) {
          const part = pcm.subarray(at, at + MAX_SEND_SAMPLES);
          // A copy in little-endian byte order, whatever the platform's.
          const bytes = new DataView(new ArrayBuffer(part.length * 2));
          part.forEach((s, i) => {
            bytes.setInt16(i * 2, s, true);
          });
          socket.send(bytes.buffer);
        }
      }
    },
    mark(name) {
      socket.send(JSON.stringify({ event: 'mark', mark: { name } }));
    },
    clear() {
      socket.send(JSON.stringify({ event: 'clear' }));
    },
    close() {
      socket.close(1000);
    },
    closed,
    get stopReason() {
      return stopReason;
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const frame = frames.shift();
        if (frame) {
          yield frame;
          continue;
        }
        if (ended) {
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
  const nudge = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  socket.onmessage = (e) => {
    if (e.data instanceof ArrayBuffer) {
      const view = new DataView(e.data);
      const frame = new Int16Array(e.data.byteLength / 2);
      for (let i = 0; i < frame.length; i++) {
        frame[i] = view.getInt16(i * 2, true);
      }
      frames.push(frame);
      // Nobody reading: keep the last 10 s rather than everything.
      if (frames.length > MAX_BUFFERED_FRAMES) {
        frames.shift();
      }
      nudge();
      return;
    }
    try {
      const message = JSON.parse(String(e.data)) as {
        event?: string;
        mark?: { name?: string };
        dtmf?: { digit?: unknown };
        reason?: unknown;
      };
      if (message.event === 'mark' && typeof message.mark?.name === 'string') {
        stream.onMark?.(message.mark.name);
      } else if (message.event === 'dtmf' && typeof message.dtmf?.digit === 'string') {
        stream.onDigit?.(message.dtmf.digit);
      } else if (message.event === 'stop' && typeof message.reason === 'string') {
        stopReason = message.reason;
      }
    } catch {
      // a control frame we do not know: nothing to do
    }
  };
  socket.onclose = (e) => {
    ended = true;
    resolveClosed(e.code);
    nudge();
  };
  const shown = wsUrl.replace(/token=[^&]*/, 'token=…');
  const { signal, openTimeoutMs = OPEN_TIMEOUT_MS } = opts;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (error: CallgateError) => {
        socket.onopen = null;
        socket.onerror = null;
        socket.close();
        reject(error);
      };
      socket.onopen = () => resolve();
      // A CallgateError like every other failure of the client. The WebSocket API gives no status: a refused upgrade
      // (a token used or older than 60 s: 401) and an unreachable host look the same.
      socket.onerror = () =>
        fail(
          new CallgateError({
            message: `The realtime socket could not be opened (${shown}): the token used or expired, or the host unreachable`,
            code: 'NETWORK_ERROR',
            status: 0,
          }),
        );
      timer = setTimeout(
        () =>
          fail(
            new CallgateError({
              message: `The realtime socket did not open within ${openTimeoutMs} ms (${shown})`,
              code: 'TIMEOUT',
              status: 0,
            }),
          ),
        openTimeoutMs,
      );
      onAbort = () =>
        fail(new CallgateError({ message: 'Opening the realtime socket was aborted', code: 'ABORTED', status: 0 }));
      if (signal?.aborted) {
        onAbort();
      } else {
        signal?.addEventListener('abort', onAbort, { once: true });
      }
    });
  } finally {
    clearTimeout(timer);
    if (onAbort) {
      signal?.removeEventListener('abort', onAbort);
    }
  }
  return stream;
}
