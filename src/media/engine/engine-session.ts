// One call's server media as the engine drives it, wherever it runs: a MediaSession on this thread, or a
// RemoteSession whose MediaSession runs on a media worker thread (src/media/workers/).

import type { RecordingResult } from './call-recorder.ts';
import type { RealtimeTarget } from './realtime-target.ts';

export type MediaEndReason = 'media_timeout' | 'call_ended' | 'shutdown';

/** What a new session is made from, on this thread or a worker. */
export interface SessionOptions {
  callId: string;
  numberId: string;
  /** Where to record the call, or null. */
  recordingPath: string | null;
  /** No audio from the peer for this long (or no connection at all) fails the media. */
  mediaTimeoutMs: number;
  /** Told once when the media fails on its own. */
  onFailure: () => void;
  /** Told once: ms from the SDP exchange to the peer's first audio packet (ICE, DTLS and its first frame). */
  onFirstAudio?: (ms: number) => void;
}

export interface PlayOptions {
  /** A key the caller presses stops this file, playing or still queued (barge-in). */
  stopOnKey?: boolean;
}

export interface EngineSession extends RealtimeTarget {
  readonly numberId: string;
  /** Where this call is being recorded, if it is. */
  readonly recordingPath: string | null;
  /** True once the media has ended (closed, or failed on its own). */
  readonly ended: boolean;
  /** Inbound: the answer to the peer's offer; ICE starts at once. */
  answer(offerSdp: string): Promise<string>;
  /** Outbound: an offer for the provider to carry to the peer. */
  offer(): Promise<string>;
  /** The peer answered the outbound offer (the media timeout counts from here). */
  applyAnswer(answerSdp: string): Promise<void>;
  /** Queues decoded media (48 kHz mono) behind what is already playing, in call order. */
  enqueuePlay(load: Promise<Int16Array>, options?: PlayOptions): void;
  stopPlay(): void;
  /** Stops the media, tells every socket (stop + 1000), finishes the recording. Idempotent. */
  close(reason: MediaEndReason): Promise<RecordingResult | null>;
}
