import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dominantFrequency } from '../audio/detect.ts';
import { FRAME_SAMPLES, rmsLevel } from '../audio/pcm.ts';
import { SpeechSynth } from '../audio/speech.ts';
import { ToneGenerator } from '../audio/tone.ts';
import { OpusCodec } from './opus.ts';

/** Encodes then decodes `frames` frames of a tone; returns the decoded audio after the codec's warm-up. */
function roundTrip(codec: OpusCodec, tone: ToneGenerator, frames: number): Int16Array {
  const out = new Int16Array(frames * FRAME_SAMPLES);
  for (let i = 0; i < frames; i++) {
    out.set(codec.decode(codec.encode(tone.next(FRAME_SAMPLES))), i * FRAME_SAMPLES);
  }
  return out.subarray(5 * FRAME_SAMPLES);
}

describe('Opus codec', () => {
  it('keeps a tone at its frequency and level through encode and decode', () => {
    const codec = new OpusCodec();
    try {
      const decoded = roundTrip(codec, new ToneGenerator(440), 30);
      assert.equal(dominantFrequency(decoded, 48_000), 440);
      assert.ok(Math.abs(rmsLevel(decoded) - 0.3535) < 0.05, `level ${rmsLevel(decoded)}`);
    } finally {
      codec.close();
    }
  });

  it('sends speech as full-band CELT 20 ms packets (the cheap mode, which every Opus decoder takes)', () => {
    const codec = new OpusCodec();
    try {
      const voice = new SpeechSynth();
      for (let i = 0; i < 50; i++) {
        const toc = codec.encode(voice.next(FRAME_SAMPLES))[0] ?? 0;
        // RFC 6716 §3.1: configurations 16–31 are CELT-only; 31 is full-band at 20 ms; bit 2 clear is mono.
        assert.equal(toc >> 3, 31, `TOC config ${toc >> 3}`);
        assert.equal(toc & 0x04, 0);
      }
    } finally {
      codec.close();
    }
  });

  it('keeps sixty codecs, alive at once and interleaved, apart (no instance writes into another)', () => {
    const codecs = Array.from({ length: 60 }, () => new OpusCodec());
    const tones = codecs.map((_, i) => new ToneGenerator(300 + i * 20));
    const outputs = codecs.map(() => new Int16Array(25 * FRAME_SAMPLES));
    for (let f = 0; f < 25; f++) {
      codecs.forEach((codec, i) => {
        outputs[i]?.set(
          codec.decode(codec.encode(tones[i]?.next(FRAME_SAMPLES) ?? new Int16Array(0))),
          f * FRAME_SAMPLES,
        );
      });
    }
    const heard = outputs.map((o) => dominantFrequency(o.subarray(5 * FRAME_SAMPLES), 48_000));
    assert.deepEqual(
      heard,
      tones.map((t) => t.frequency),
    );
    for (const codec of codecs) {
      codec.close();
    }
  });

  it('decodes a 48 kHz stream straight to 8 kHz: 160 samples a frame, the tone at its pitch', () => {
    const sender = new OpusCodec();
    const narrow = new OpusCodec({ sampleRate: 8000 });
    try {
      const tone = new ToneGenerator(440);
      const out = new Int16Array(30 * 160);
      for (let i = 0; i < 30; i++) {
        const pcm = narrow.decode(sender.encode(tone.next(FRAME_SAMPLES)));
        assert.equal(pcm.length, 160);
        out.set(pcm, i * 160);
      }
      assert.equal(dominantFrequency(out.subarray(5 * 160), 8000), 440);
      assert.equal(narrow.frameSamples, 160);
      assert.throws(() => new OpusCodec({ sampleRate: 44_100 as 48_000 }), RangeError);
    } finally {
      sender.close();
      narrow.close();
    }
  });

  it('an encoder taking over a stream from one at another rate is heard at the right level from its first frame', () => {
    // Levels of the decoded frames after 440 Hz at 8 kHz from one encoder, then 660 Hz at 48 kHz from another.
    const levelsAfterSwitch = (independent: boolean): number[] => {
      const decoder = new OpusCodec();
      const before = new OpusCodec({ sampleRate: 8000, bitrate: 32_000 });
      const low = new ToneGenerator(440, 8000);
      for (let i = 0; i < 25; i++) {
        decoder.decode(before.encode(low.next(160)));
      }
      const after = new OpusCodec();
      if (independent) {
        after.encodeIndependently(3);
      }
      const high = new ToneGenerator(660);
      const levels = [];
      for (let i = 0; i < 8; i++) {
        levels.push(rmsLevel(decoder.decode(after.encode(high.next(FRAME_SAMPLES)))));
      }
      for (const codec of [decoder, before, after]) {
        codec.close();
      }
      return levels;
    };
    const steady = 0.5 / Math.SQRT2;
    const independent = levelsAfterSwitch(true);
    assert.ok(
      independent.every((level) => Math.abs(level / steady - 1) < 0.15),
      `levels ${independent.map((l) => l.toFixed(3))} around ${steady.toFixed(3)}`,
    );
    // What it prevents: a plain new encoder's first frame comes out louder than the tone.
    assert.ok((levelsAfterSwitch(false)[0] ?? 0) / steady > 1.3);
  });

  it('decodes garbage and empty packets to nothing, and refuses a wrong frame size', () => {
    const codec = new OpusCodec();
    try {
      assert.equal(codec.decode(new Uint8Array(0)).length, 0);
      assert.equal(codec.decode(new Uint8Array(5000)).length, 0);
      assert.throws(() => codec.encode(new Int16Array(100)), RangeError);
    } finally {
      codec.close();
    }
    assert.throws(() => codec.encode(new Int16Array(FRAME_SAMPLES)), /closed/);
    assert.equal(codec.decode(new Uint8Array([1, 2, 3])).length, 0);
  });
});
