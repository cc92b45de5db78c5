// A media worker thread: runs the MediaSessions the engine places on it (werift, Opus, frame pacing, recording),
// so their 20 ms work is spread over several event loops instead of queueing on the API's. It answers the engine's
// requests and forwards what the engine's side needs: the caller's frames while a realtime client listens, marks
// reached, and media that failed on its own. The engine keeps everything else (store, capacity, realtime sockets).

import { parentPort, workerData } from 'node:worker_threads';
import type { RecordingResult } from '../engine/call-recorder.ts';
import { localSession } from '../engine/local-session.ts';
import { peerFactoryFor } from '../engine/media-peers.ts';
import type { MediaSession } from '../engine/session.ts';
import { warmUpMedia } from '../engine/warm-up.ts';
import { newFramePacing } from '../rtc/frame-clock.ts';
import { BatchedPort } from './batched-port.ts';
import type { FromWorker, ToWorker, WorkerSetup } from './protocol.ts';

interface Hosted {
  session: MediaSession;
  /** Resolvers of the `play` items still waiting for their audio, by play id. */
  plays: Map<number, { resolve: (pcm: Int16Array) => void; reject: (err: Error) => void }>;
  stopListening: (() => void) | null;
}

const port = parentPort;
if (!port) {
  throw new Error('media-worker.ts runs as a worker thread');
}
const out = new BatchedPort<FromWorker>(port);
const setup = workerData as WorkerSetup;
const factory = peerFactoryFor(setup);
const hosted = new Map<number, Hosted>();
const pacing = newFramePacing();

function reply(req: number, work: Promise<string | RecordingResult | null | undefined>): void {
  work.then(
    (value) => out.post({ op: 'reply', req, ok: true, value: value ?? null }),
    (err: Error) => out.post({ op: 'reply', req, ok: false, error: err.message }),
  );
}

function open(m: Extract<ToWorker, { op: 'open' }>): void {
  const session = localSession(
    factory,
    {
      ...m,
      onFailure: () => out.post({ op: 'failed', sid: m.sid }),
      onFirstAudio: (ms) => out.post({ op: 'first-audio', sid: m.sid, ms }),
    },
    pacing,
  );
  // Digits are rare: every one is posted, listened to or not.
  session.onDigit((digit) => out.post({ op: 'digit', sid: m.sid, digit }));
  hosted.set(m.sid, { session, plays: new Map(), stopListening: null });
}

function handle(m: ToWorker): void {
  if (m.op === 'open') {
    open(m);
    return;
  }
  const h = hosted.get(m.sid);
  if (!h) {
    if ('req' in m) {
      out.post({ op: 'reply', req: m.req, ok: false, error: 'no such media session' });
    }
    return;
  }
  const { session } = h;
  switch (m.op) {
    case 'answer':
      reply(m.req, session.answer(m.sdp));
      return;
    case 'offer':
      reply(m.req, session.offer());
      return;
    case 'apply-answer':
      reply(
        m.req,
        session.applyAnswer(m.sdp).then(() => null),
      );
      return;
    case 'close':
      hosted.delete(m.sid);
      h.stopListening?.();
      for (const play of h.plays.values()) {
        play.reject(new Error('closed'));
      }
      reply(m.req, session.close(m.reason));
      return;
    case 'play':
      session.enqueuePlay(new Promise((resolve, reject) => h.plays.set(m.playId, { resolve, reject })), {
        stopOnKey: m.stopOnKey,
      });
      return;
    case 'play-ready':
    case 'play-failed': {
      const play = h.plays.get(m.playId);
      h.plays.delete(m.playId);
      if (m.op === 'play-ready') {
        play?.resolve(m.pcm);
      } else {
        play?.reject(new Error('not decoded'));
      }
      return;
    }
    case 'stop-play':
      session.stopPlay();
      return;
    case 'listen':
      h.stopListening?.();
      h.stopListening =
        m.rate === 0
          ? null
          : session.onCallerAudio(
              (pcm, rate, missed) => out.post({ op: 'audio', sid: m.sid, pcm, rate, missed }),
              m.rate,
            );
      return;
    case 'talk':
      session.talk.push(m.pcm, m.rate);
      return;
    case 'mark':
      session.talk.mark(() => out.post({ op: 'mark-reached', sid: m.sid, markId: m.markId }));
      return;
    case 'clear':
      session.talk.clear();
      return;
  }
}

port.on('message', (batch: ToWorker[]) => {
  for (const m of batch) {
    // One bad message (a constructor throwing in `open`, say) must not take the thread and every call on it down.
    try {
      handle(m);
    } catch (err) {
      if ('req' in m) {
        out.post({ op: 'reply', req: m.req, ok: false, error: (err as Error).message });
      }
    }
  }
});

// The engine's metrics count every thread's frames: this one's go over once a second, as what changed.
const reported = newFramePacing();
setInterval(() => {
  if (pacing.frames !== reported.frames || pacing.skipped !== reported.skipped) {
    out.post({
      op: 'pacing',
      frames: pacing.frames - reported.frames,
      late: pacing.late - reported.late,
      skipped: pacing.skipped - reported.skipped,
    });
    Object.assign(reported, pacing);
  }
}, 1000).unref();

// Warmed before the first call (engine/warm-up.ts): ready either way, a failed warm-up only leaves the code cold.
const warmed = setup.warmUp
  ? await warmUpMedia().then(
      (ms) => ms,
      () => null,
    )
  : null;
out.post({ op: 'ready', warmUpMs: warmed });
