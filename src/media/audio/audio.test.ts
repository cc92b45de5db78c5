import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dominantFrequency, goertzelPower } from './detect.ts';
import { AudioMonitor } from './monitor.ts';
import { FRAME_SAMPLES, rmsLevel, silence } from './pcm.ts';
import { ToneGenerator, tone } from './tone.ts';
import { readWav, WavFormatError, writeWav } from './wav.ts';

describe('tones and frequency detection', () => {
  it('finds the frequency of a generated tone to within a hertz', () => {
    for (const hz of [300, 440, 660, 880, 1000, 2500]) {
      assert.equal(dominantFrequency(tone(hz, 0.5), 48_000), hz);
    }
  });

  it('hears nothing in silence', () => {
    assert.equal(dominantFrequency(silence(24_000), 48_000), null);
  });

  it('picks the louder of two mixed tones', () => {
    const a = tone(440, 0.5, 48_000, 0.6);
    const b = tone(880, 0.5, 48_000, 0.2);
    const mixed = a.map((s, i) => s + (b[i] ?? 0));
    assert.equal(dominantFrequency(mixed, 48_000), 440);
    assert.ok(goertzelPower(mixed, 48_000, 440) > goertzelPower(mixed, 48_000, 880));
  });

  it('continues a tone across frames without a phase jump', () => {
    const generator = new ToneGenerator(440);
    const joined = new Int16Array(FRAME_SAMPLES * 25);
    for (let i = 0; i < 25; i++) {
      joined.set(generator.next(FRAME_SAMPLES), i * FRAME_SAMPLES);
    }
    assert.deepEqual(joined, tone(440, 0.5));
  });

  it('refuses a tone above the Nyquist frequency', () => {
    assert.throws(() => new ToneGenerator(30_000), RangeError);
  });
});

describe('WAV files', () => {
  it('reads back what it writes', () => {
    const samples = tone(880, 0.25, 16_000);
    const parsed = readWav(writeWav({ sampleRate: 16_000, samples }));
    assert.equal(parsed.sampleRate, 16_000);
    assert.deepEqual(parsed.samples, samples);
  });

  it('mixes a stereo file down to mono', () => {
    const header = writeWav({ sampleRate: 8_000, samples: new Int16Array(4) });
    // Rewrite as a 2-channel file of two frames: (1000, 3000) and (-2000, 0).
    header.writeUInt16LE(2, 22);
    header.writeUInt32LE(8_000 * 4, 28);
    header.writeUInt16LE(4, 32);
    for (const [i, v] of [1000, 3000, -2000, 0].entries()) {
      header.writeInt16LE(v, 44 + i * 2);
    }
    assert.deepEqual(readWav(header).samples, Int16Array.from([2000, -1000]));
  });

  it("reads a streamed file's data to its end when the data size was never written (0 or 0xFFFFFFFF)", () => {
    const samples = tone(440, 0.1, 8_000);
    for (const size of [0, 0xffffffff]) {
      const streamed = writeWav({ sampleRate: 8_000, samples });
      streamed.writeUInt32LE(size, 40);
      assert.deepEqual(readWav(streamed).samples, samples, `data size ${size}`);
    }
  });

  it('reads a data size of 0 followed by whole chunks (LIST) as no audio, not the chunks as samples', () => {
    const list = riffChunk('LIST', Buffer.from('INFOISFT\x0e\0\0\0Lavf61.7.100\0\0', 'latin1'));
    for (const size of [0, 0xffffffff]) {
      const empty = Buffer.concat([writeWav({ sampleRate: 8_000, samples: new Int16Array(0) }), list]);
      empty.writeUInt32LE(size, 40);
      assert.equal(readWav(empty).samples.length, 0, `data size ${size}`);
    }
    // An honest size with a LIST after it, as non-streamed files often are: the samples only.
    const samples = tone(440, 0.1, 8_000);
    assert.deepEqual(readWav(Buffer.concat([writeWav({ sampleRate: 8_000, samples }), list])).samples, samples);
  });

  it('a streamed data chunk whose samples happen to start like a chunk header is still read to its end', () => {
    const samples = tone(440, 0.1, 8_000);
    const streamed = writeWav({ sampleRate: 8_000, samples });
    streamed.writeUInt32LE(0, 40);
    streamed.write('LIST', 44, 'latin1'); // then a "size" that runs past the end: samples, not a chunk
    assert.equal(readWav(streamed).samples.length, samples.length);
  });

  it('rejects a file that is not a WAV with a clear error', () => {
    assert.throws(() => readWav(Buffer.from('ID3 this is an mp3')), WavFormatError);
    const noData = writeWav({ sampleRate: 8_000, samples: new Int16Array(0) }).subarray(0, 36);
    assert.throws(() => readWav(noData), /no data chunk/);
  });
});

describe('audio monitor', () => {
  it('reports the frequency and level of the last window only', () => {
    const monitor = new AudioMonitor(200);
    monitor.push(tone(440, 1));
    assert.equal(monitor.heard().frequencyHz, 440);
    monitor.push(tone(880, 0.3));
    const heard = monitor.heard();
    assert.equal(heard.frequencyHz, 880);
    assert.ok(heard.level > 0.3);
    assert.equal(heard.totalSamples, 48_000 + 14_400);
    monitor.push(silence(48_000));
    assert.equal(monitor.heard().frequencyHz, null);
    assert.equal(rmsLevel(monitor.recent()), 0);
  });
});

/** A RIFF chunk: id, little-endian size, body, and the pad byte an odd size takes. */
function riffChunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, Buffer.alloc(body.length % 2)]);
}
