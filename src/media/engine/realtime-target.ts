// What a call's media session offers a realtime WebSocket: the caller's audio out, a sink for audio in, and the
// moment the media ends. The socket code depends on this shape only, never on the session, its thread or WebRTC.

import type { DtmfDigit, OpusRate } from '../rtc/index.ts';

/** Audio from realtime `talk` clients on its way to the caller, mono (an AudioQueue, or its proxy). */
export interface TalkSink {
  /** Audio at `rate`, the client's own: the sink converts it if it must. */
  push(pcm: Int16Array, rate: OpusRate): void;
  /** `reached` is called once the audio pushed before it has been played (or at once on clear). */
  mark(reached: () => void): void;
  clear(): void;
}

export interface RealtimeTarget {
  readonly callId: string;
  /**
   * The caller's audio, 20 ms frames at `rate` or higher (the frame's rate comes with it: another listener may want
   * more), while the call's media runs, with the 20 ms frames of the caller's clock that passed before it unheard
   * (lost packets). Returns the unsubscribe.
   */
  onCallerAudio(listener: (frame: Int16Array, rate: OpusRate, missed: number) => void, rate: OpusRate): () => void;
  /** Each keypad digit the caller presses (RFC 4733 telephone events), once. Returns the unsubscribe. */
  onDigit(listener: (digit: DtmfDigit) => void): () => void;
  /** Audio from realtime clients in `talk` mode, on its way to the caller. */
  readonly talk: TalkSink;
  /** Called once when the media ends (terminate, hang-up, max duration, media timeout), with a short reason. */
  onEnded(listener: (reason: string) => void): () => void;
}
