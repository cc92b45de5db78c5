import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mock, test } from 'node:test';
import { turnsDuring } from '../../../test/helpers/event-loop.ts';
import { dominant, rms, sine, zeroCrossingFrequency } from '../../../test/helpers/tone.ts';
import { wavFile } from '../../../test/helpers/wav.ts';
import { resample, resampleInTurns } from '../audio/resampler.ts';
import { decodeMedia, sniffMedia } from './decode-media.ts';
import { MediaDecodeError } from './decoded-audio.ts';
import { OggOpusWriter } from './ogg-opus-writer.ts';
import { OPUS_PRE_SKIP, OpusFrameEncoder } from './opus-encoder.ts';

const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/media');
const LIMITS = { maxSeconds: 60 };

function oggTone(freq: number, seconds: number): Buffer {
  const enc = new OpusFrameEncoder(1);
  const chunks: Buffer[] = [];
  const w = new OggOpusWriter((c) => chunks.push(c), { channels: 1, preSkip: OPUS_PRE_SKIP });
  const pcm = sine(freq, 48_000, seconds);
  for (let i = 0; i + 960 <= pcm.length; i += 960) {
    w.writePacket(enc.encode(pcm.subarray(i, i + 960)), 960);
  }
  w.end();
  enc.close();
  return Buffer.concat(chunks);
}

/** Played media must come out at 48 kHz with the file's pitch and length (±5 %). */
function assertTone(pcm: Int16Array, seconds: number, freq: number, wantSeconds: number) {
  assert.ok(Math.abs(seconds - wantSeconds) <= wantSeconds * 0.05, `duration ${seconds}`);
  assert.ok(Math.abs(pcm.length / 48_000 - wantSeconds) <= wantSeconds * 0.05, `samples ${pcm.length}`);
  const middle = pcm.subarray(4800, pcm.length - 4800);
  assert.equal(dominant(middle, 48_000, [440, 550, 660, 770, 880]), freq);
  assert.ok(Math.abs(zeroCrossingFrequency(middle, 48_000) - freq) <= freq * 0.05);
}

for (const rate of [8000, 16_000, 48_000]) {
  test(`a ${rate / 1000} kHz 16-bit WAV plays at 660 Hz for its length`, async () => {
    const d = await decodeMedia(wavFile([sine(660, rate, 1.5)], rate), LIMITS);
    assertTone(d.pcm, d.seconds, 660, 1.5);
  });
}

test('a WAV written by SoX decodes (a real-world header)', async () => {
  const d = await decodeMedia(readFileSync(join(FIXTURES, 'tone-660-16k.wav')), LIMITS);
  assertTone(d.pcm, d.seconds, 660, 1);
});

test('a stereo WAV is mixed down to mono', async () => {
  const left = sine(660, 16_000, 1);
  const silent = new Int16Array(left.length);
  const d = await decodeMedia(wavFile([left, silent], 16_000), LIMITS);
  assertTone(d.pcm, d.seconds, 660, 1);
  const level = rms(d.pcm.subarray(4800, 43_200)) / (12_000 / Math.SQRT2);
  assert.ok(Math.abs(level - 0.5) < 0.03, `level ${level}`);
});

test('a stereo 44.1 kHz MP3 made by LAME plays at 660 Hz for its length', async () => {
  const bytes = readFileSync(join(FIXTURES, 'tone-660-stereo.mp3'));
  assert.equal(sniffMedia(bytes), 'mp3');
  const d = await decodeMedia(bytes, LIMITS);
  assertTone(d.pcm, d.seconds, 660, 2);
});

test('an Ogg/Opus file plays at 660 Hz for its length', async () => {
  const d = await decodeMedia(oggTone(660, 1.5), LIMITS);
  assertTone(d.pcm, d.seconds, 660, 1.5);
});

test('media over the duration limit is refused, whatever its format', async () => {
  const short = { maxSeconds: 1 };
  for (const bytes of [
    wavFile([sine(660, 8000, 1.2)], 8000),
    oggTone(660, 1.5),
    readFileSync(join(FIXTURES, 'tone-660-stereo.mp3')),
  ]) {
    await assert.rejects(
      decodeMedia(bytes, short),
      (e) => e instanceof MediaDecodeError && /longer than 1 s/.test(e.message),
    );
  }
});

test('a WAV data size of 0 is a streamed one only when no whole chunk follows it; other empty chunks are empty', async () => {
  const info = Buffer.from('LIST\x10\0\0\0INFOISFT\x04\0\0\0sox\0', 'latin1');
  const tone = sine(660, 8000, 1.2);
  // Streamed: the size was never written and the samples run to the end.
  const streamed = wavFile([tone], 8000);
  streamed.writeUInt32LE(0, 40);
  const whole = await decodeMedia(streamed, LIMITS);
  assertTone(whole.pcm, whole.seconds, 660, 1.2);
  // An empty data chunk with a LIST after it is no audio: refused, not the LIST played as a click.
  const empty = Buffer.concat([wavFile([new Int16Array(0)], 8000), info]);
  await assert.rejects(decodeMedia(empty, LIMITS), /no WAV audio/);
  // An empty chunk before the data (JUNK of size 0) is skipped, not taken to run to the end of the file.
  const wav = wavFile([tone], 8000);
  const junkFirst = Buffer.concat([wav.subarray(0, 12), Buffer.from('JUNK\0\0\0\0', 'latin1'), wav.subarray(12)]);
  const d = await decodeMedia(junkFirst, LIMITS);
  assertTone(d.pcm, d.seconds, 660, 1.2);
});

test('what is not WAV, Ogg/Opus or MP3 is refused with a reason, never thrown as something else', async () => {
  const adpcm = wavFile([sine(660, 8000, 0.1)], 8000);
  adpcm.writeUInt16LE(2, 20); // MS ADPCM format tag
  const tooFast = wavFile([sine(660, 8000, 0.1)], 96_000);
  const noData = wavFile([new Int16Array(0)], 8000).subarray(0, 36);
  // Cut short after the header, or within the first sample: a data chunk with no whole sample in it.
  const wav = wavFile([sine(660, 8000, 0.1)], 8000);
  const headerOnly = wav.subarray(0, 44);
  const halfASample = wav.subarray(0, 45);
  const vorbisLike = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(200)]);
  for (const bytes of [
    Buffer.from('<html>not audio</html>'),
    Buffer.alloc(0),
    adpcm,
    tooFast,
    noData,
    headerOnly,
    halfASample,
    vorbisLike,
    Buffer.concat([Buffer.from('ID3'), Buffer.alloc(100)]),
    // A real Ogg file of another codec: the Opus decoder's own error must come out as a MediaDecodeError too.
    readFileSync(join(FIXTURES, 'tone-1200-vorbis.ogg')),
  ]) {
    await assert.rejects(decodeMedia(bytes, LIMITS), MediaDecodeError);
  }
});

test('a small Ogg/Opus file claiming hours of audio is refused without the memory those hours would take', async () => {
  // 2-byte packets of six empty 20 ms frames: 120 ms each, so 100 KB stand for over an hour of stereo audio.
  const chunks: Buffer[] = [];
  const w = new OggOpusWriter((c) => chunks.push(c), { channels: 2, preSkip: OPUS_PRE_SKIP, packetsPerPage: 255 });
  for (let i = 0; i < 34_000; i++) {
    w.writePacket(Buffer.from([0xfb, 0x06]), 5760);
  }
  w.end();
  const bomb = Buffer.concat(chunks);
  assert.ok(bomb.length < 110_000);
  await assert.rejects(
    decodeMedia(bomb, { maxSeconds: 300 }),
    (e) => e instanceof MediaDecodeError && /longer than 300 s/.test(e.message),
  );
  // The process's peak resident memory: decoding 64 KiB at a time took it past 3 GB before the first check.
  const peakMb = process.resourceUsage().maxRSS / 1024;
  assert.ok(peakMb < 1024, `peak RSS ${Math.round(peakMb)} MB`);
});

test('a corrupt MP3 or Ogg/Opus file writes nothing to stderr: the decoders’ per-frame complaints are dropped', async () => {
  const mp3 = readFileSync(join(FIXTURES, 'tone-660-stereo.mp3'));
  const ogg = oggTone(660, 1);
  // Valid headers, then bytes no decoder can make sense of.
  const garbage = (head: Buffer) => {
    const b = Buffer.concat([head, Buffer.alloc(64 * 1024)]);
    for (let i = head.length; i < b.length; i++) {
      b[i] = (i * 7919 + (i >> 7)) & 255;
    }
    return b;
  };
  const written: string[] = [];
  const write = mock.method(process.stderr, 'write', (chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    for (const bytes of [garbage(mp3.subarray(0, 2000)), garbage(ogg.subarray(0, 400))]) {
      await decodeMedia(bytes, LIMITS).catch((err) => assert.ok(err instanceof MediaDecodeError, String(err)));
    }
  } finally {
    write.mock.restore();
  }
  assert.deepEqual(written, []);
});

test('decoding a long file lets the event loop run meanwhile: the calls’ frame clocks are not stalled by it', async () => {
  const mp3 = readFileSync(join(FIXTURES, 'tone-660-stereo.mp3'));
  for (const [what, bytes] of [
    ['WAV', wavFile([sine(660, 8000, 30)], 8000)],
    ['MP3', Buffer.concat(Array.from({ length: 10 }, () => mp3))],
    ['Ogg/Opus', oggTone(660, 10)],
  ] as const) {
    const { result: d, turns } = await turnsDuring(() => decodeMedia(bytes, LIMITS));
    assert.ok(d.seconds > 9, what);
    assert.ok(turns >= 10, `${what}: the event loop turned ${turns} times while it was decoded`);
  }
});

test('a file converted a slice at a time is sample for sample what converting it whole gives', async () => {
  for (const rate of [8000, 9973, 44_100]) {
    const pcm = sine(660, rate, 1.3);
    assert.deepEqual(await resampleInTurns(pcm, rate, 48_000), resample(pcm, rate, 48_000), `${rate} Hz`);
  }
});
