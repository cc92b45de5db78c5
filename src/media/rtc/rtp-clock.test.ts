// The RTP clock of an endpoint, seen from a plain werift receiver: one packet per frame index, sequence +1 and
// timestamp +960 per frame, and after a stall the skipped frames show as a gap in both (never as drift).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AudioEndpoint } from './audio-endpoint.ts';
import type { FrameClock } from './frame-clock.ts';
import { createPeerFactory, LOOPBACK_ICE } from './peer-factory.ts';
import { toneSource } from './sources.ts';

/** A clock the test drives: each call to step() is one tick with the given frame index. */
function manualClock(): FrameClock & { step(index: number): void } {
  let tick: ((index: number) => void) | null = null;
  return {
    start(fn) {
      tick = fn;
      return () => {
        tick = null;
      };
    },
    step(index) {
      tick?.(index);
    },
  };
}

describe('RTP clock', () => {
  it('numbers packets by frame index: +1 sequence, +960 timestamp, gaps where frames were skipped', async () => {
    const factory = createPeerFactory(LOOPBACK_ICE);
    const clock = manualClock();
    const sender = new AudioEndpoint(factory, { source: toneSource(440), clock });
    const receiver = factory.create();
    const headers: { sequenceNumber: number; timestamp: number; payloadType: number }[] = [];
    receiver.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        headers.push({
          sequenceNumber: rtp.header.sequenceNumber,
          timestamp: rtp.header.timestamp,
          payloadType: rtp.header.payloadType,
        });
      });
    });
    try {
      await receiver.setRemoteDescription({ type: 'offer', sdp: await sender.createOffer() });
      await receiver.setLocalDescription(await receiver.createAnswer());
      await new Promise<void>((resolve) => {
        if (receiver.iceGatheringState === 'complete') {
          resolve();
        }
        receiver.iceGatheringStateChange.subscribe((s) => s === 'complete' && resolve());
      });
      await sender.applyAnswer(receiver.localDescription?.sdp ?? '');
      await sender.connected();

      for (const index of [0, 1, 2, 3, 7, 8]) {
        clock.step(index);
        await sleep(20);
      }
      for (let i = 0; i < 100 && headers.length < 6; i++) {
        await sleep(20);
      }
      assert.equal(headers.length, 6);
      const first = headers[0]!;
      const deltas = headers.slice(1).map((h, i) => ({
        sequence: (h.sequenceNumber - headers[i]!.sequenceNumber + 0x10000) % 0x10000,
        timestamp: (h.timestamp - headers[i]!.timestamp + 0x100000000) % 0x100000000,
      }));
      assert.deepEqual(deltas, [
        { sequence: 1, timestamp: 960 },
        { sequence: 1, timestamp: 960 },
        { sequence: 1, timestamp: 960 },
        { sequence: 4, timestamp: 3840 },
        { sequence: 1, timestamp: 960 },
      ]);
      assert.equal(first.payloadType, 111);
    } finally {
      await sender.close();
      await receiver.close();
    }
  });
});
