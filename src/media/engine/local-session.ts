// A session on this thread: its werift endpoint from the given factory and, when asked, its recorder. The engine
// makes these when MEDIA_WORKERS=0, each media worker for the sessions placed on it.

import type { PeerFactory } from '../rtc/index.ts';
import { AudioEndpoint } from '../rtc/index.ts';
import { CallRecorder } from './call-recorder.ts';
import type { SessionOptions } from './engine-session.ts';
import { MediaSession } from './session.ts';

export function localSession(factory: PeerFactory, o: SessionOptions): MediaSession {
  return new MediaSession({
    callId: o.callId,
    numberId: o.numberId,
    // No monitor: nobody listening costs no Opus decoding.
    endpoint: new AudioEndpoint(factory, { monitor: false }),
    recorder: o.recordingPath ? new CallRecorder(o.recordingPath) : null,
    mediaTimeoutMs: o.mediaTimeoutMs,
    onFailure: o.onFailure,
  });
}
