// A session on this thread: its werift endpoint from the given factory and, when asked, its recorder. The engine
// makes these when MEDIA_WORKERS=0, each media worker for the sessions placed on it.

import { countingFrameClock, type FramePacing } from '../rtc/frame-clock.ts';
import type { PeerFactory } from '../rtc/index.ts';
import { AudioEndpoint } from '../rtc/index.ts';
import { CallRecorder } from './call-recorder.ts';
import type { SessionOptions } from './engine-session.ts';
import { MediaSession } from './session.ts';

/** `pacing` counts the frames of every session of this thread (the metrics read it). */
export function localSession(factory: PeerFactory, o: SessionOptions, pacing: FramePacing): MediaSession {
  return new MediaSession({
    callId: o.callId,
    numberId: o.numberId,
    // No monitor: nobody listening costs no Opus decoding.
    endpoint: new AudioEndpoint(factory, { monitor: false, clock: countingFrameClock(pacing) }),
    recorder: o.recordingPath ? new CallRecorder(o.recordingPath) : null,
    mediaTimeoutMs: o.mediaTimeoutMs,
    onFailure: o.onFailure,
    ...(o.onFirstAudio ? { onFirstAudio: o.onFirstAudio } : {}),
  });
}
