import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DTMF_END_REPEATS,
  DTMF_GAP_FRAMES,
  DTMF_TONE_FRAMES,
  DtmfDetector,
  type DtmfPacket,
  DtmfSender,
  parseTelephoneEvent,
  serializeTelephoneEvent,
} from './dtmf.ts';

describe('RFC 4733 telephone events', () => {
  it('reads the event, end flag and duration of a packet as RFC 4733 lays them out', () => {
    // Event 11 (#), E bit set, volume 10, duration 800 (100 ms at 8 kHz).
    assert.deepEqual(parseTelephoneEvent(Uint8Array.from([11, 0x8a, 0x03, 0x20])), {
      digit: '#',
      end: true,
      duration: 800,
    });
    assert.deepEqual(parseTelephoneEvent(Uint8Array.from([0, 0x0a, 0x00, 0xa0])), {
      digit: '0',
      end: false,
      duration: 160,
    });
    assert.equal(parseTelephoneEvent(Uint8Array.from([15, 0, 0, 0]))?.digit, 'D');
    assert.equal(parseTelephoneEvent(Uint8Array.from([16, 0, 0, 0])), null, 'flash is not a digit');
    assert.equal(parseTelephoneEvent(Uint8Array.from([1, 0, 0])), null, 'too short');
  });

  it('writes what it reads', () => {
    for (const digit of ['0', '5', '9', '*', '#', 'A', 'D'] as const) {
      assert.deepEqual(parseTelephoneEvent(serializeTelephoneEvent(digit, true, 960)), {
        digit,
        end: true,
        duration: 960,
      });
    }
    assert.deepEqual([...serializeTelephoneEvent('1', false, 160)], [1, 10, 0, 160]);
  });

  it('tells each digit once, by its first packet, however many packets and repeated ends it has', () => {
    const detector = new DtmfDetector();
    const heard: string[] = [];
    const push = (digit: '1' | '2', end: boolean, duration: number, timestamp: number) => {
      const d = detector.push(serializeTelephoneEvent(digit, end, duration), timestamp);
      if (d) {
        heard.push(d);
      }
    };
    for (let i = 1; i <= 5; i++) {
      push('1', i === 5, i * 160, 1000);
    }
    push('1', true, 800, 1000);
    push('1', true, 800, 1000);
    // The same key pressed again is a new event: a new timestamp.
    push('1', true, 800, 9000); // only its end arrived: still one digit
    push('2', false, 160, 20_000);
    push('2', true, 320, 20_000);
    // The first key's repeated end, overtaken by the next key, is not a key again.
    push('1', true, 800, 9000);
    assert.deepEqual(heard, ['1', '1', '2']);
    // Timestamps wrap at 2^32: a key just after the wrap is a new one.
    const wrapping = new DtmfDetector();
    assert.equal(wrapping.push(serializeTelephoneEvent('3', false, 160), 0xffff_ff00), '3');
    assert.equal(wrapping.push(serializeTelephoneEvent('4', false, 160), 0x0000_0100), '4');
    assert.equal(detector.push(Uint8Array.from([16, 0x80, 0, 160]), 30_000), null);
  });

  it('sends each digit as a tone of growing duration, its end three times, then a gap of audio', () => {
    const sender = new DtmfSender();
    sender.enqueue('7#');
    const frames: (DtmfPacket | null)[] = [];
    for (let i = 0; i < 2 * (DTMF_TONE_FRAMES + DTMF_END_REPEATS - 1 + DTMF_GAP_FRAMES) + 2; i++) {
      frames.push(sender.next());
    }
    const one = DTMF_TONE_FRAMES + DTMF_END_REPEATS - 1 + DTMF_GAP_FRAMES;
    const first = frames.slice(0, one);
    assert.deepEqual(
      first.map((f) => f && [f.digit, f.first, f.end, f.framesIn, f.toneFrames]),
      [
        ['7', true, false, 0, 1],
        ['7', false, false, 1, 2],
        ['7', false, false, 2, 3],
        ['7', false, false, 3, 4],
        ['7', false, true, 4, 5],
        ['7', false, true, 5, 5],
        ['7', false, true, 6, 5],
        null,
        null,
        null,
      ],
    );
    assert.deepEqual(
      frames.slice(one, one + 2).map((f) => f && [f.digit, f.first]),
      [
        ['#', true],
        ['#', false],
      ],
    );
    assert.deepEqual(frames.slice(2 * one), [null, null], 'nothing left: audio');
    assert.equal(sender.pending, 0);
  });
});
