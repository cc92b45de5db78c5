// Sessions on media worker threads, against a real WebRTC peer on 127.0.0.1 playing the WhatsApp user: what the
// engine does through a RemoteSession reaches the caller and back across the thread (tones detected, not mocked),
// and a worker that dies fails its calls instead of leaving them silent.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { createLogger } from '../../logger.ts';
import { dominantFrequency } from '../audio/detect.ts';
import { tone } from '../audio/tone.ts';
import { ENGINE_FRAME } from '../engine/audio-queue.ts';
import type { SessionOptions } from '../engine/engine-session.ts';
import { AudioEndpoint, createPeerFactory, LOOPBACK_ICE, toneSource } from '../rtc/index.ts';
import { MediaWorkerPool, portSlice } from './worker-pool.ts';

const factory = createPeerFactory(LOOPBACK_ICE);
const SETUP = { publicIp: '127.0.0.1', portRange: null, stunUrls: [], warmUp: false };
const dir = mkdtempSync(join(tmpdir(), 'callgate-workers-'));
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) {
    await close();
  }
  rmSync(dir, { recursive: true, force: true });
});

function newPool(size: number, workerUrl?: URL, warmUp = false): MediaWorkerPool {
  const pool = new MediaWorkerPool(size, { ...SETUP, warmUp }, createLogger('silent'), workerUrl);
  closers.push(() => pool.close());
  return pool;
}

function options(callId: string, extra: Partial<SessionOptions> = {}): SessionOptions {
  return { callId, numberId: 'num_1', recordingPath: null, mediaTimeoutMs: 30_000, onFailure: () => {}, ...extra };
}

/** A caller sending 440 Hz, connected to a session the pool placed on a worker. */
async function callOn(pool: MediaWorkerPool, o: SessionOptions) {
  const user = new AudioEndpoint(factory, { source: toneSource(440) });
  const session = pool.open(o);
  closers.push(
    () => user.close(),
    () => session.close('shutdown'),
  );
  await user.applyAnswer(await session.answer(await user.createOffer()));
  await user.connected();
  return { user, session };
}

function joined(frames: Int16Array[]): Int16Array {
  const out = new Int16Array(frames.length * ENGINE_FRAME);
  for (const [i, f] of frames.entries()) {
    out.set(f, i * ENGINE_FRAME);
  }
  return out;
}

test('on a worker: the caller’s 440 Hz reaches a listener here, 880 Hz talked from here reaches the caller, a mark comes back once played, the recording is finished', async () => {
  const pool = newPool(1, undefined, true);
  const [warmUpMs] = await pool.warm();
  assert.ok(typeof warmUpMs === 'number' && warmUpMs > 0, 'the worker made its loopback warm-up call');
  const path = join(dir, 'call_w1.ogg');
  const { user, session } = await callOn(pool, options('call_w1', { recordingPath: path }));
  const frames: Int16Array[] = [];
  // Asked at 8 kHz, but the recording on the worker decodes at 48 kHz: the listener gets those frames.
  const stop = session.onCallerAudio((f) => frames.push(f), 8000);
  await waitFor(
    () => frames.length,
    (n) => n >= 60,
  );
  assert.equal(dominantFrequency(joined(frames.slice(-50)), 48_000), 440);
  for (const f of frames) {
    assert.equal(f.length, ENGINE_FRAME, 'whole 20 ms frames at 48 kHz');
  }
  stop();
  await sleep(200);
  const afterStop = frames.length;
  await sleep(300);
  assert.ok(frames.length <= afterStop + 1, 'no frames cross the thread once nobody listens');

  let markAt = 0;
  const pushedAt = Date.now();
  session.talk.push(tone(880, 0.6), 48_000);
  session.talk.mark(() => {
    markAt = Date.now();
  });
  assert.equal(
    await waitFor(
      () => user.heard().frequencyHz,
      (f) => f === 880,
    ),
    880,
  );
  await waitFor(
    () => markAt,
    (t) => t > 0,
  );
  assert.ok(
    markAt - pushedAt >= 550,
    `the mark came back after the 0.6 s before it was played (${markAt - pushedAt} ms)`,
  );

  const recording = await session.close('call_ended');
  assert.ok(recording && recording.durationSeconds >= 1, `recorded ${recording?.durationSeconds} s`);
  assert.equal(recording.path, path);
  assert.equal(statSync(path).size, recording.sizeBytes);
  assert.equal(session.ended, true);
  assert.deepEqual(pool.load(), [0], 'the worker holds nothing for a closed session');
});

test('play across the thread: a failed download is skipped, the next file reaches the caller at 660 Hz; stop silences it', async () => {
  const pool = newPool(1);
  const { user, session } = await callOn(pool, options('call_w2'));
  session.enqueuePlay(Promise.reject(new Error('404')));
  let release: (pcm: Int16Array) => void = () => {};
  session.enqueuePlay(new Promise((r) => (release = r)));
  await sleep(300);
  assert.equal(user.heard().frequencyHz, null, 'nothing plays before the file is decoded');
  release(tone(660, 5));
  assert.equal(
    await waitFor(
      () => user.heard().frequencyHz,
      (f) => f === 660,
    ),
    660,
  );
  session.stopPlay();
  assert.equal(
    await waitFor(
      () => user.heard().frequencyHz,
      (f) => f === null,
    ),
    null,
  );
});

test('sessions go to the least busy worker', async () => {
  const pool = newPool(2);
  const sessions = ['a', 'b', 'c'].map((id) => pool.open(options(`call_${id}`)));
  assert.deepEqual(
    pool.load().sort((x, y) => x - y),
    [1, 2],
  );
  await sessions[0]?.close('shutdown');
  await sessions[1]?.close('shutdown');
  assert.deepEqual(
    pool.load().sort((x, y) => x - y),
    [0, 1],
  );
  await sessions[2]?.close('shutdown');
});

test('a worker that dies fails its calls under way (engine told, sockets told, requests refused) and is replaced', async () => {
  const pool = newPool(1, new URL('../../../test/fixtures/crashing-media-worker.mjs', import.meta.url));
  const failures: string[] = [];
  const first = pool.open(options('call_x1', { onFailure: () => failures.push('call_x1') }));
  const other = pool.open(options('call_x2', { onFailure: () => failures.push('call_x2') }));
  const ends: string[] = [];
  other.onEnded((reason) => ends.push(reason));
  assert.equal(await first.answer('v=0 offer'), 'v=0 answer');
  await assert.rejects(first.answer('crash'), /exited with code 3/);
  // call_x1 had answered: its media failed. call_x2 never had: its call is left as it was, its sockets told.
  assert.deepEqual(failures, ['call_x1']);
  assert.deepEqual(ends, ['media_timeout']);
  assert.equal(other.ended, true);
  assert.equal(first.ended, true);
  assert.equal(await other.close('call_ended'), null, 'nothing to finish: no recording was asked for');
  const recorded = pool.open(options('call_x3', { recordingPath: join(dir, 'lost.ogg') }));
  assert.equal(await recorded.answer('v=0 offer'), 'v=0 answer', 'a new worker serves the next call');
  await assert.rejects(recorded.answer('crash'));
  await assert.rejects(recorded.close('call_ended'), 'a recording lost with its worker is reported as failed');
});

test('MEDIA_PORT_MIN..MAX is split between the workers, every port used once', () => {
  assert.equal(portSlice(null, 0, 2), null);
  const slices = [0, 1, 2].map((slot) => portSlice([40000, 40100], slot, 3));
  assert.deepEqual(slices, [
    [40000, 40032],
    [40033, 40065],
    [40066, 40100],
  ]);
  assert.deepEqual(portSlice([40000, 40000], 0, 1), [40000, 40000]);
});
