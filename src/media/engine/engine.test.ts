// The engine's durable promise on answering: when an answer leaves, the store already names this process as the
// call's media node beside a fresh heartbeat (other processes end the calls of a node that stops beating), and a
// refused offer leaves no such row. The engine runs here without start(): no heartbeat loop, only what answers write
// (but for admission by pacing, which samples its frames from start()).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { CANNED_OFFER_SDP } from '../../../test/fakes/meta-graph.ts';
import { buildTestApp, type TestApp } from '../../../test/helpers/build-test-app.ts';
import { logSink } from '../../../test/helpers/log-sink.ts';
import { ManualClock } from '../../../test/helpers/manual-clock.ts';
import { startCall } from '../../../test/helpers/server-media.ts';
import { mediaHeartbeatAt } from '../../../test/helpers/store-reads.ts';
import { storeKinds } from '../../../test/helpers/stores.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import type { CallId } from '../../ids.ts';
import { createLogger } from '../../logger.ts';
import { findCallMediaForNumber } from '../../store/call-media.ts';
import type { AudioEndpoint } from '../rtc/index.ts';
import { MediaEngine } from './engine.ts';
import { MediaNode } from './media-node.ts';
import { RealtimeHub } from './realtime-hub.ts';

/** The wall clock, for tests that wait on the engine's real timers. */
class ClockNow extends ManualClock {
  override now(): Date {
    return new Date();
  }
}

/** An engine of its own on the test app's store (whose own engine is off), on the given clock. */
function engineOn(
  t: TestApp,
  clock: ManualClock,
  over: Partial<ConstructorParameters<typeof MediaEngine>[0]> = {},
): MediaEngine {
  const logger = createLogger('silent');
  const now = () => clock.now();
  return new MediaEngine({
    db: t.store.db,
    realtime: new RealtimeHub(() => Date.now()),
    logger,
    now,
    node: new MediaNode({ db: t.store.db, now, logger, holding: () => 0 }),
    allowInsecureUrls: false,
    onMediaFailure: () => undefined,
    databaseUrl: null,
    fallbackWsBaseUrl: 'ws://localhost:1',
    ...over,
    config: { ...t.config.media, enabled: true, ...over.config },
  });
}

for (const kind of storeKinds()) {
  describe(`media engine answers (${kind})`, () => {
    const endpoints: AudioEndpoint[] = [];
    after(() => Promise.all(endpoints.map((e) => e.close())));

    test('each answer stores its media row; the heartbeat is written with it when absent or older than 5 s', async () => {
      // The app's own engine is off: only this one writes heartbeats.
      const t = await buildTestApp(kind, { env: { MEDIA_ENGINE: 'off' } });
      const clock = new ManualClock();
      const engine = engineOn(t, clock);
      const answer = async () => {
        const { call } = await startCall(t, endpoints);
        const outcome = await engine.answer(call.id, t.numberA.id, call.sdpOffer ?? '', false);
        assert.equal(outcome.ok, true);
        const row = await findCallMediaForNumber(t.store.db, t.numberA.id, call.id);
        assert.equal(row?.mediaNode, engine.node, 'the media row names this process');
        return mediaHeartbeatAt(t.store.db, engine.node);
      };
      try {
        const first = clock.now().toISOString();
        assert.equal(await answer(), first, 'no heartbeat yet: written with the first row');
        clock.advance(4_000);
        assert.equal(await answer(), first, 'a 4 s old heartbeat is left to the loop');
        clock.advance(2_000);
        assert.equal(await answer(), clock.now().toISOString(), 'a 6 s old heartbeat is renewed with the row');
      } finally {
        await engine.close();
        await t.close();
      }
    });

    test('an offer for a call not stored yet outlives the grace for sessions whose call is gone', async () => {
      const t = await buildTestApp(kind, { env: { MEDIA_ENGINE: 'off' } });
      const engine = engineOn(t, new ClockNow());
      try {
        // An opened session starts the status watch.
        const { call } = await startCall(t, endpoints);
        assert.equal((await engine.answer(call.id, t.numberA.id, call.sdpOffer ?? '', false)).ok, true);
        const placing = 'call_01PLACING000000000000000000' as CallId;
        assert.equal((await engine.offer(placing, t.numberA.id, false)).ok, true);
        await new Promise((r) => setTimeout(r, 6_500));
        assert.ok(engine.session(placing) && !engine.session(placing)?.ended, 'still offered, waiting for its row');
        assert.ok(engine.session(call.id), 'the stored call keeps its session');
      } finally {
        await engine.close();
        await t.close();
      }
    });

    test('an offer the engine cannot answer leaves no media row, no session and no recording file', async () => {
      const t = await buildTestApp(kind, { env: { MEDIA_ENGINE: 'off' } });
      const engine = engineOn(t, new ManualClock());
      const offers = {
        // No WebRTC audio session at all: refused before anything is reserved or written.
        'not an offer': 'v=0\r\nnot an offer\r\n',
        // Looks like one, but werift cannot answer it (no a=mid): the row and the file made beside it are undone.
        'an offer werift refuses': CANNED_OFFER_SDP.replace('a=mid:0\r\n', ''),
      };
      try {
        for (const [what, sdp] of Object.entries(offers)) {
          const { call } = await startCall(t, endpoints);
          const outcome = await engine.answer(call.id, t.numberA.id, sdp, true);
          assert.deepEqual(outcome, { ok: false, reason: 'bad_offer' }, what);
          assert.equal(await findCallMediaForNumber(t.store.db, t.numberA.id, call.id), null, what);
          assert.deepEqual(
            readdirSync(t.config.media.recordingsDir).filter((f) => f.startsWith(call.id)),
            [],
            `${what}: no recording file is left`,
          );
          assert.equal(engine.size, 0, what);
        }
      } finally {
        await engine.close();
        await t.close();
      }
    });

    test("a peer's answer that is no WebRTC audio session ends the offered media at once, as a media failure", async () => {
      const t = await buildTestApp(kind, { env: { MEDIA_ENGINE: 'off' } });
      const failed: string[] = [];
      const engine = engineOn(t, new ClockNow(), { onMediaFailure: (callId) => failed.push(callId) });
      try {
        const { call } = await startCall(t, endpoints);
        assert.equal((await engine.offer(call.id, t.numberA.id, false)).ok, true);
        await engine.bind(call.id);
        // Hundreds of audio sections: werift would take seconds over it, on the thread every call is paced on.
        const section = CANNED_OFFER_SDP.slice(CANNED_OFFER_SDP.indexOf('m=audio'));
        const bloated = CANNED_OFFER_SDP + section.repeat(400);
        await t.store.db.execute('UPDATE calls SET sdp_answer = $1 WHERE id = $2', [bloated, call.id]);
        await waitFor(
          () => engine.session(call.id),
          (session) => session === undefined,
          5000,
        );
        assert.equal(engine.session(call.id), undefined, 'the session ended');
        assert.deepEqual(failed, [call.id]);
      } finally {
        await engine.close();
        await t.close();
      }
    });
  });
}

for (const kind of storeKinds()) {
  test(`a shutdown that cuts answered calls says so, naming them (${kind})`, async () => {
    const t = await buildTestApp(kind, { env: { MEDIA_ENGINE: 'off' } });
    const endpoints: AudioEndpoint[] = [];
    const log = logSink();
    const engine = engineOn(t, new ManualClock(), { logger: log.logger });
    try {
      const { call } = await startCall(t, endpoints);
      assert.equal((await engine.answer(call.id, t.numberA.id, call.sdpOffer ?? '', false)).ok, true);
      await engine.close();
      const said = log.find(/^shutdown ends the server media of/);
      assert.equal(said.length, 1, JSON.stringify(log.lines));
      assert.equal(said[0]?.msg, 'shutdown ends the server media of 1 answered call');
      assert.deepEqual(said[0]?.callIds, [call.id]);
      // An engine with nothing up stops without a word.
      const idle = engineOn(t, new ManualClock(), { logger: log.logger });
      await idle.close();
      assert.equal(log.find(/^shutdown ends/).length, 1);
    } finally {
      await engine.close();
      await Promise.all(endpoints.map((e) => e.close()));
      await t.close();
    }
  });
}

describe('admission by pacing (MEDIA_MAX_LATE_PERCENT)', () => {
  const endpoints: AudioEndpoint[] = [];
  after(() => Promise.all(endpoints.map((e) => e.close())));

  test('a stalled process refuses new sessions while its late frames are in the window, then admits again', async () => {
    const t = await buildTestApp('sqlite', { env: { MEDIA_ENGINE: 'off' } });
    const engine = engineOn(t, new ManualClock(), {
      config: { ...t.config.media, enabled: true, maxLatePercent: 15 },
      lateFrameWindow: { windowMs: 1500, minFrames: 40 },
    });
    try {
      await engine.start();
      const uc = await startCall(t, endpoints);
      const answered = await engine.answer(uc.call.id, t.numberA.id, uc.call.sdpOffer ?? '', false);
      assert.ok(answered.ok);
      await uc.user.applyAnswer(answered.sdp);
      await uc.user.connected();
      await waitFor(
        () => engine.pacing().frames,
        (frames) => frames >= 50,
        5000,
      );

      // A second with the thread blocked: ~50 frames go out late or never, of the 100–150 due in the window (1.5 s
      // back from the latest once-a-second sample: 2–3 s back from now) — a third or more.
      const until = performance.now() + 1000;
      while (performance.now() < until) {
        // a stall: no timer runs
      }
      // Counted once the frame clock runs again.
      assert.equal(
        await waitFor(
          () => engine.capacityProblem(),
          (problem) => problem === 'overloaded',
          1000,
        ),
        'overloaded',
      );
      const next = await startCall(t, endpoints);
      assert.deepEqual(await engine.answer(next.call.id, t.numberA.id, next.call.sdpOffer ?? '', false), {
        ok: false,
        reason: 'capacity',
      });
      assert.equal(engine.size, 1, 'nothing reserved for the refused call');

      // Once the stall has left the window, the process keeps time and admits again.
      assert.equal(
        await waitFor(
          () => engine.capacityProblem(),
          (problem) => problem === null,
          6000,
        ),
        null,
      );
    } finally {
      await engine.close();
      await t.close();
    }
  });
});

describe('media engine start', () => {
  test('with MEDIA_WARMUP on, warm() makes a loopback call of its own and says how long it took', async () => {
    const t = await buildTestApp('sqlite', { env: { MEDIA_ENGINE: 'off' } });
    const sink = logSink();
    const engine = new MediaEngine({
      config: { ...t.config.media, enabled: true, warmUp: true },
      db: t.store.db,
      realtime: new RealtimeHub(() => Date.now()),
      logger: sink.logger,
      now: () => new Date(),
      node: new MediaNode({ db: t.store.db, now: () => new Date(), logger: sink.logger, holding: () => 0 }),
      allowInsecureUrls: false,
      onMediaFailure: () => undefined,
      databaseUrl: null,
      fallbackWsBaseUrl: 'ws://localhost:1',
    });
    try {
      await engine.start();
      // The server warms up once it listens (app.ts): start() alone does no warm-up work.
      assert.deepEqual(sink.find(/warmed up|warm-up/), []);
      engine.warm();
      const warmed = await waitFor(
        () => sink.find(/media engine warmed up/),
        (lines) => lines.length > 0,
        15_000,
      );
      assert.equal(warmed.length, 1, 'the warm-up call completed');
      assert.ok(typeof warmed[0]?.warmUpMs === 'number');
      assert.deepEqual(sink.find(/warm-up failed/), []);
      assert.equal(engine.size, 0, 'the warm-up is no call of the engine');
    } finally {
      await engine.close();
      await t.close();
    }
  });
});
