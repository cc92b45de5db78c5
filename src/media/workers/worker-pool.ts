// The media worker threads of this process (MEDIA_WORKERS). A new session goes to the worker holding the fewest;
// each worker runs its sessions' 20 ms work on its own event loop, so one busy loop, or one GC pause, delays only
// its share of the calls. A worker that dies fails its calls under way (FAILED/media_timeout, as for any
// media failure) and is replaced when the next session needs it.

import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SessionOptions } from '../engine/engine-session.ts';
import { type FramePacing, newFramePacing } from '../rtc/frame-clock.ts';
import { BatchedPort } from './batched-port.ts';
import type { FromWorker, ToWorker, WorkerSetup } from './protocol.ts';
import { RemoteSession, type WorkerLink } from './remote-session.ts';

const WORKER_URL = new URL('./media-worker.mjs', import.meta.url);

class MediaWorker implements WorkerLink {
  readonly sessions = new Map<number, RemoteSession>();
  private readonly worker: Worker;
  private readonly port: BatchedPort<ToWorker>;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private ids = 0;
  private exited: Error | null = null;
  /** Resolves when the worker is loaded, with how long its warm-up took (ms; null: none, or it failed). */
  readonly ready: Promise<number | null>;

  constructor(url: URL, setup: WorkerSetup, pacing: FramePacing, onExit: (w: MediaWorker, err: Error) => void) {
    this.worker = new Worker(url, { workerData: setup, name: 'callgate-media' });
    this.worker.unref();
    this.port = new BatchedPort(this.worker);
    let ready: (warmUpMs: number | null) => void = () => undefined;
    let notReady: (err: Error) => void = () => undefined;
    this.ready = new Promise((resolve, reject) => {
      ready = resolve;
      notReady = reject;
    });
    // Awaited only by warm(); a worker dying before it is ready must not be an unhandled rejection.
    this.ready.catch(() => undefined);
    this.worker.on('message', (batch: FromWorker[]) => {
      for (const m of batch) {
        if (m.op === 'ready') {
          ready(m.warmUpMs);
        } else if (m.op === 'pacing') {
          pacing.frames += m.frames;
          pacing.late += m.late;
          pacing.skipped += m.skipped;
        } else {
          this.receive(m);
        }
      }
    });
    // 'error' is followed by 'exit'; the first tells why.
    let why: Error | null = null;
    this.worker.on('error', (err) => {
      why ??= err;
    });
    this.worker.on('exit', (code) => {
      this.exited = why ?? new Error(`media worker exited with code ${code}`);
      notReady(this.exited);
      for (const { reject } of this.pending.values()) {
        reject(this.exited);
      }
      this.pending.clear();
      onExit(this, this.exited);
    });
  }

  nextId(): number {
    this.ids += 1;
    return this.ids;
  }

  post(message: ToWorker): void {
    if (!this.exited) {
      this.port.post(message);
    }
  }

  request(message: ToWorker & { req: number }): Promise<unknown> {
    if (this.exited) {
      return Promise.reject(this.exited);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(message.req, { resolve, reject });
      this.port.post(message);
    });
  }

  private receive(m: Exclude<FromWorker, { op: 'ready' | 'pacing' }>): void {
    if (m.op === 'reply') {
      const waiting = this.pending.get(m.req);
      this.pending.delete(m.req);
      if (m.ok) {
        waiting?.resolve(m.value);
      } else {
        waiting?.reject(new Error(m.error));
      }
      return;
    }
    const session = this.sessions.get(m.sid);
    if (m.op === 'audio') {
      session?.heard(m.pcm, m.rate, m.missed);
    } else if (m.op === 'first-audio') {
      session?.firstAudio(m.ms);
    } else if (m.op === 'mark-reached') {
      session?.markReached(m.markId);
    } else if (m.op === 'digit') {
      session?.digit(m.digit);
    } else {
      session?.failed();
    }
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export class MediaWorkerPool {
  /** One slot per worker; a dead worker's slot is refilled when the next session needs one. */
  private readonly slots: (MediaWorker | null)[];
  private readonly size: number;
  private readonly setup: WorkerSetup;
  private readonly logger: Logger;
  private readonly workerUrl: URL;
  private closed = false;
  /** Frames paced by every worker's sessions (dead workers' included), as last reported. */
  readonly pacing = newFramePacing();

  /** `workerUrl` is for tests: a worker script that speaks the same protocol (protocol.ts). */
  constructor(size: number, setup: WorkerSetup, logger: Logger, workerUrl = WORKER_URL) {
    this.size = size;
    this.setup = setup;
    this.logger = logger;
    this.workerUrl = workerUrl;
    this.slots = Array.from({ length: size }, () => null);
  }

  private get workers(): MediaWorker[] {
    return this.slots.filter((w): w is MediaWorker => w !== null);
  }

  /** How many sessions each worker slot holds now (0 for one not started, or dead and not yet replaced). */
  load(): number[] {
    return this.slots.map((w) => w?.sessions.size ?? 0);
  }

  /**
   * Starts the workers (each loads werift and libopus, and warms up when asked: ~0.4–0.8 s of CPU) ahead of the first
   * call, which would otherwise wait for them; resolves once they are ready, with each one's warm-up time.
   */
  async warm(): Promise<(number | null)[]> {
    this.spawnAll();
    return Promise.all(this.workers.map((w) => w.ready));
  }

  /** A new session on the least busy worker (messages sent before the worker is ready wait in its queue). */
  open(o: SessionOptions): RemoteSession {
    if (this.closed) {
      throw new Error('the media workers have stopped');
    }
    this.spawnAll();
    const worker = this.workers.reduce((a, b) => (b.sessions.size < a.sessions.size ? b : a));
    const sid = worker.nextId();
    const { onFailure, onFirstAudio, ...options } = o;
    const session = new RemoteSession(worker, sid, options, {
      onFailure,
      onClosed: () => worker.sessions.delete(sid),
      ...(onFirstAudio ? { onFirstAudio } : {}),
    });
    worker.sessions.set(sid, session);
    return session;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private spawnAll(): void {
    for (let slot = 0; slot < this.size && !this.closed; slot++) {
      this.slots[slot] ??= this.spawn(slot);
    }
  }

  private spawn(slot: number): MediaWorker {
    const setup = { ...this.setup, portRange: portSlice(this.setup.portRange, slot, this.size) };
    return new MediaWorker(this.workerUrl, setup, this.pacing, (dead, err) => {
      if (this.slots[slot] === dead) {
        this.slots[slot] = null;
      }
      if (this.closed) {
        return; // the engine has ended its sessions already
      }
      this.logger.error({ err: err.message, sessions: dead.sessions.size }, 'media worker died; its calls failed');
      for (const session of dead.sessions.values()) {
        session.lost();
      }
    });
  }
}

/**
 * Each worker binds its peers' UDP ports in its own part of MEDIA_PORT_MIN..MAX: werift tries a port and then binds
 * it, and two threads trying the same port at once would make one bind fail.
 */
export function portSlice(range: [number, number] | null, slot: number, slots: number): [number, number] | null {
  if (!range) {
    return null;
  }
  const [min, max] = range;
  const per = Math.floor((max - min + 1) / slots);
  return [min + slot * per, slot === slots - 1 ? max : min + (slot + 1) * per - 1];
}
