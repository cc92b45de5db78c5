// A short call between two endpoints of this thread on 127.0.0.1, made when the engine starts: it loads libopus,
// makes werift's DTLS certificate (one per process) and runs ICE, DTLS, SRTP and Opus once, so that the first real
// call is set up as fast as every later one instead of paying ~150 ms of cold start. No packet leaves the machine
// (loopback ICE whatever MEDIA_PUBLIC_IP says), and nothing is stored.

import { AudioEndpoint, createPeerFactory, LOOPBACK_ICE, toneSource } from '../rtc/index.ts';

/** Frames the answering side decodes before the warm-up counts as done: the receive path has run too. */
const FRAMES = 10;
const GIVE_UP_MS = 10_000;

/** Resolves with how long the warm-up took (ms), or rejects if the two ends did not exchange audio in time. */
export async function warmUpMedia(): Promise<number> {
  const started = performance.now();
  const factory = createPeerFactory(LOOPBACK_ICE);
  const caller = new AudioEndpoint(factory, { source: toneSource(440), monitor: false });
  const answerer = new AudioEndpoint(factory, { monitor: false });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        const heard = new Promise<void>((resolve) => {
          let frames = 0;
          answerer.onAudio(() => {
            frames += 1;
            if (frames === FRAMES) {
              resolve();
            }
          });
        });
        await caller.applyAnswer(await answerer.acceptOffer(await caller.createOffer()));
        await heard;
      })(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no audio within ${GIVE_UP_MS} ms`)), GIVE_UP_MS);
        timer.unref();
      }),
    ]);
    return performance.now() - started;
  } finally {
    clearTimeout(timer);
    await Promise.all([caller.close(), answerer.close()]);
  }
}
