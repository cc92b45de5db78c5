// The messages between the engine (main thread) and a media worker. `sid` names a session within its worker;
// `req` pairs a request with its reply. Messages travel in batches (batched-port.ts): one postMessage per turn
// of the event loop, not one per 20 ms frame.

import type { RecordingResult } from '../engine/call-recorder.ts';
import type { MediaEndReason } from '../engine/engine-session.ts';
import type { MediaIceConfig } from '../engine/media-peers.ts';
import type { DtmfDigit, OpusRate } from '../rtc/index.ts';

/** A worker's workerData: how to make peers, and whether to warm up before saying it is ready. */
export interface WorkerSetup extends MediaIceConfig {
  warmUp: boolean;
}

export type ToWorker =
  | { op: 'open'; sid: number; callId: string; numberId: string; recordingPath: string | null; mediaTimeoutMs: number }
  | { op: 'answer'; sid: number; req: number; sdp: string }
  | { op: 'offer'; sid: number; req: number }
  | { op: 'apply-answer'; sid: number; req: number; sdp: string }
  | { op: 'close'; sid: number; req: number; reason: MediaEndReason }
  /** A `play` was queued; its audio (or its failure) follows under the same id, keeping request order. */
  | { op: 'play'; sid: number; playId: number; stopOnKey: boolean }
  | { op: 'play-ready'; sid: number; playId: number; pcm: Int16Array }
  | { op: 'play-failed'; sid: number; playId: number }
  | { op: 'stop-play'; sid: number }
  /** The rate the main thread wants the caller's decoded frames at (its listeners' highest), or 0: none. */
  | { op: 'listen'; sid: number; rate: OpusRate | 0 }
  | { op: 'talk'; sid: number; pcm: Int16Array; rate: OpusRate }
  | { op: 'mark'; sid: number; markId: number }
  | { op: 'clear'; sid: number };

export type FromWorker =
  /** Loaded (and warmed up: how long it took, ms; null when not asked or when it failed). */
  | { op: 'ready'; warmUpMs: number | null }
  | { op: 'reply'; req: number; ok: true; value: string | RecordingResult | null }
  | { op: 'reply'; req: number; ok: false; error: string }
  | { op: 'audio'; sid: number; pcm: Int16Array; rate: OpusRate; missed: number }
  | { op: 'mark-reached'; sid: number; markId: number }
  | { op: 'digit'; sid: number; digit: DtmfDigit }
  /** The media failed on its own (ICE/DTLS failure, silence from the peer); the session is closing. */
  | { op: 'failed'; sid: number }
  /** The peer's first audio packet arrived this long (ms) after the SDP exchange. */
  | { op: 'first-audio'; sid: number; ms: number }
  /** Frames this worker's sessions paced since its previous report (frame-clock.ts FramePacing), once a second. */
  | { op: 'pacing'; frames: number; late: number; skipped: number };
