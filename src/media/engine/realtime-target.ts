// What a call's media session offers a realtime WebSocket: the caller's audio out, a queue for audio in, and the
// moment the media ends. The socket code depends on this shape only, never on the session or WebRTC.

import type { AudioQueue } from './audio-queue.ts';

export interface RealtimeTarget {
  readonly callId: string;
  /** The caller's audio, 20 ms frames at 48 kHz, while the call's media runs. Returns the unsubscribe. */
  onCallerAudio(listener: (frame: Int16Array) => void): () => void;
  /** Audio from realtime clients in `talk` mode, on its way to the caller. */
  readonly talk: AudioQueue;
  /** Called once when the media ends (terminate, hang-up, max duration, media timeout), with a short reason. */
  onEnded(listener: (reason: string) => void): () => void;
}
