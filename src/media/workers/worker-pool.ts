// The media worker threads of this process (MEDIA_WORKERS). A new session goes to the worker holding the fewest;
// each worker runs its sessions' 20 ms work on its own event loop, so one busy loop, or one GC pause, delays only
// its share of the calls. A worker that dies fails its sessions (their calls end FAILED/media_timeout, as for any
// media failure) and is replaced.

import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { MediaIceConfig } from '../engine/media-peers.ts';
import { BatchedPort } from './batched-port.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { RemoteSession, type WorkerLink } from './remote-session.ts';

const WORKER_URL = new URL('./media-worker.mjs', import.meta.url);

class MediaWorker implements WorkerLink {
  readonly sessions = new Map<number, RemoteSession>();
  private readonly worker: Worker;
  private readonly port: BatchedPort<ToWorker>;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private ids = 0;
  private exited: Error | null = null;
  readonly ready: Promise<void>;

  constructor(url: URL, ice: MediaIceConfig, onExit: (w: MediaWorker, err: Error) => void) {
    this.worker = new Worker(url, { workerData: ice, name: 'callgate-media' });
    this.worker.unref();
    this.port = new BatchedPort(this.worker);
    let ready: () => void = () => undefined;
    this.ready = new Promise((resolve) => {
      ready = resolve;
    });
    this.worker.on('message', (batch: FromWorker[]) => {
      for (const m of batch) {
        if (m.op === 'ready') {
          ready();
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
      ready();
      for (const { reject } of this.pending.values()) {
        reject(this.exited);
      }
      this.pending.clear();
      for (const session of this.sessions.values()) {
        session.failed();
      }
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

  private receive(m: Exclude<FromWorker, { op: 'ready' }>): void {
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
      session?.heard(m.pcm);
    } else if (m.op === 'mark-reached') {
      session?.markReached(m.markId);
    } else {
      session?.failed();
    }
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export interface RemoteSessionOptions {
  callId: string;
  numberId: string;
  recordingPath: string | null;
  mediaTimeoutMs: number;
  onFailure: () => void;
}

export class MediaWorkerPool {
  private workers: MediaWorker[] = [];
  private readonly size: number;
  private readonly ice: MediaIceConfig;
  private readonly logger: Logger;
  private readonly workerUrl: URL;
  private closed = false;

  /** `workerUrl` is for tests: a worker script that speaks the same protocol (protocol.ts). */
  constructor(size: number, ice: MediaIceConfig, logger: Logger, workerUrl = WORKER_URL) {
    this.size = size;
    this.ice = ice;
    this.logger = logger;
    this.workerUrl = workerUrl;
  }

  /** How many sessions each worker holds now. */
  load(): number[] {
    return this.workers.map((w) => w.sessions.size);
  }

  /**
   * Starts the workers (each loads werift and libopus: ~0.4 s of CPU) ahead of the first call, which would otherwise
   * wait for them; resolves once they are ready.
   */
  async warm(): Promise<void> {
    this.spawnAll();
    await Promise.all(this.workers.map((w) => w.ready));
  }

  /** A new session on the least busy worker (messages sent before the worker is ready wait in its queue). */
  open(o: RemoteSessionOptions): RemoteSession {
    if (this.closed) {
      throw new Error('the media workers have stopped');
    }
    this.spawnAll();
    const worker = this.workers.reduce((a, b) => (b.sessions.size < a.sessions.size ? b : a));
    const sid = worker.nextId();
    const { onFailure, ...options } = o;
    const session = new RemoteSession(worker, sid, options, {
      onFailure,
      onClosed: () => worker.sessions.delete(sid),
    });
    worker.sessions.set(sid, session);
    return session;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private spawnAll(): void {
    while (!this.closed && this.workers.length < this.size) {
      this.workers.push(this.spawn());
    }
  }

  private spawn(): MediaWorker {
    return new MediaWorker(this.workerUrl, this.ice, (dead, err) => {
      if (this.closed) {
        return;
      }
      this.logger.error({ err: err.message, sessions: dead.sessions.size }, 'media worker died; its calls failed');
      this.workers = this.workers.map((w) => (w === dead ? this.spawn() : w));
    });
  }
}
