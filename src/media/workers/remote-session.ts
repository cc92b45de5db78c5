// The engine's handle on a MediaSession that runs on a media worker: the same EngineSession shape, each call a
// message. Requests (answer, offer, close) resolve with the worker's reply; the caller's frames come back only
// while someone listens; marks are kept here and called when the worker reports them reached.

import type { RecordingResult } from '../engine/call-recorder.ts';
import { EndSignal } from '../engine/end-signal.ts';
import type { EngineSession, MediaEndReason, PlayOptions } from '../engine/engine-session.ts';
import type { TalkSink } from '../engine/realtime-target.ts';
import type { DtmfDigit, OpusRate } from '../rtc/index.ts';
import type { ToWorker } from './protocol.ts';

/** The worker side of a RemoteSession: how it sends, and how it asks for a reply. */
export interface WorkerLink {
  post(message: ToWorker): void;
  request(message: ToWorker & { req: number }): Promise<unknown>;
  nextId(): number;
}

export interface SessionHooks {
  /** The media failed on its own, or its worker died (the engine ends the call). */
  onFailure?: () => void;
  /** close() has settled: the worker holds nothing more for this session. */
  onClosed?: () => void;
  /** The peer's first audio arrived, this long (ms) after the SDP exchange. */
  onFirstAudio?: (ms: number) => void;
}

export class RemoteSession implements EngineSession {
  readonly callId: string;
  readonly numberId: string;
  readonly recordingPath: string | null;
  readonly talk: TalkSink;
  private readonly sid: number;
  private readonly link: WorkerLink;
  private readonly audioListeners = new Map<(frame: Int16Array, rate: OpusRate, missed: number) => void, OpusRate>();
  /** The rate last asked of the worker (0: not listening). */
  private listenRate = 0;
  private readonly end = new EndSignal();
  private readonly marks = new Map<number, () => void>();
  private readonly digitListeners = new Set<(digit: DtmfDigit) => void>();
  private closing: Promise<RecordingResult | null> | null = null;
  /** The SDP exchange succeeded: media is (or was) under way, so losing it is a media failure of the call. */
  private connecting = false;
  private readonly hooks: SessionHooks;

  constructor(
    link: WorkerLink,
    sid: number,
    o: { callId: string; numberId: string; recordingPath: string | null; mediaTimeoutMs: number },
    hooks: SessionHooks = {},
  ) {
    this.hooks = hooks;
    this.link = link;
    this.sid = sid;
    this.callId = o.callId;
    this.numberId = o.numberId;
    this.recordingPath = o.recordingPath;
    link.post({ op: 'open', sid, ...o });
    this.talk = {
      push: (pcm, rate) => this.post({ op: 'talk', sid, pcm, rate }),
      mark: (reached) => {
        if (this.ended) {
          return; // its socket has been told `stop`
        }
        const markId = link.nextId();
        this.marks.set(markId, reached);
        this.post({ op: 'mark', sid, markId });
      },
      clear: () => this.post({ op: 'clear', sid }),
    };
  }

  /** Closed, or failed on its own: either way its end has been told. */
  get ended(): boolean {
    return this.end.fired;
  }

  async answer(offerSdp: string): Promise<string> {
    const sdp = await this.link.request({ op: 'answer', sid: this.sid, req: this.link.nextId(), sdp: offerSdp });
    this.connecting = true;
    return sdp as string;
  }

  offer(): Promise<string> {
    return this.link.request({ op: 'offer', sid: this.sid, req: this.link.nextId() }) as Promise<string>;
  }

  async applyAnswer(answerSdp: string): Promise<void> {
    await this.link.request({ op: 'apply-answer', sid: this.sid, req: this.link.nextId(), sdp: answerSdp });
    this.connecting = true;
  }

  enqueuePlay(load: Promise<Int16Array>, options: PlayOptions = {}): void {
    const playId = this.link.nextId();
    this.post({ op: 'play', sid: this.sid, playId, stopOnKey: options.stopOnKey === true });
    load.then(
      (pcm) => this.post({ op: 'play-ready', sid: this.sid, playId, pcm }),
      () => this.post({ op: 'play-failed', sid: this.sid, playId }),
    );
  }

  stopPlay(): void {
    this.post({ op: 'stop-play', sid: this.sid });
  }

  onCallerAudio(listener: (frame: Int16Array, rate: OpusRate, missed: number) => void, rate: OpusRate): () => void {
    this.audioListeners.set(listener, rate);
    this.listen();
    return () => {
      if (this.audioListeners.delete(listener)) {
        this.listen();
      }
    };
  }

  /** Tells the worker the highest rate a listener wants, when it changed. */
  private listen(): void {
    let rate = 0;
    for (const wanted of this.audioListeners.values()) {
      rate = Math.max(rate, wanted);
    }
    if (rate !== this.listenRate) {
      this.listenRate = rate;
      this.post({ op: 'listen', sid: this.sid, rate: rate as OpusRate | 0 });
    }
  }

  onDigit(listener: (digit: DtmfDigit) => void): () => void {
    this.digitListeners.add(listener);
    return () => this.digitListeners.delete(listener);
  }

  onEnded(listener: (reason: string) => void): () => void {
    return this.end.listen(listener);
  }

  close(reason: MediaEndReason): Promise<RecordingResult | null> {
    if (!this.closing) {
      this.ending(reason);
      const closed = this.link.request({ op: 'close', sid: this.sid, req: this.link.nextId(), reason });
      // A worker that died took the session with it: nothing to finish, unless a recording was lost with it.
      this.closing = (closed as Promise<RecordingResult | null>).catch((err: Error) => {
        if (this.recordingPath) {
          throw err;
        }
        return null;
      });
      void this.closing.finally(() => this.hooks.onClosed?.()).catch(() => undefined);
    }
    return this.closing;
  }

  // From the worker

  /** A decoded 20 ms frame of the caller. */
  heard(pcm: Int16Array, rate: OpusRate, missed = 0): void {
    for (const listener of this.audioListeners.keys()) {
      listener(pcm, rate, missed);
    }
  }

  firstAudio(ms: number): void {
    this.hooks.onFirstAudio?.(ms);
  }

  /** A keypad digit the caller pressed. */
  digit(digit: DtmfDigit): void {
    if (!this.ended) {
      for (const listener of this.digitListeners) {
        listener(digit);
      }
    }
  }

  markReached(markId: number): void {
    const reached = this.marks.get(markId);
    this.marks.delete(markId);
    reached?.();
  }

  /** The media failed on its own (the worker's session said so): sockets are told now, the engine closes it. */
  failed(): void {
    if (!this.ended) {
      this.ending('media_timeout');
      this.hooks.onFailure?.();
    }
  }

  /**
   * Its worker died. Media under way has failed, as above; before the SDP exchange completed, the request in flight
   * is refused instead (as an offer that cannot be answered is), and the call is left as it was.
   */
  lost(): void {
    if (this.connecting) {
      this.failed();
    } else {
      this.ending('media_timeout');
    }
  }

  private ending(reason: string): void {
    this.end.fire(reason);
    this.audioListeners.clear();
    this.digitListeners.clear();
    // What a client marked will never be played, and its socket has just been told `stop`.
    this.marks.clear();
  }

  private post(message: ToWorker): void {
    if (!this.ended) {
      this.link.post(message);
    }
  }
}
