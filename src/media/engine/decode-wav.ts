// RIFF/WAVE reader for played media: integer PCM (8, 16, 24 or 32 bit), 32-bit float and G.711 μ-law, any
// channel count and any rate from 8 to 48 kHz (the usual are 8, 16 and 48 kHz). The chunk walk tolerates extra
// chunks (LIST, fact) and a data size of 0 or 0xFFFFFFFF (written by streaming tools that never went back: wavDataEnd).

import { setImmediate as nextTurn } from 'node:timers/promises';
import { resampleInTurns } from '../audio/resampler.ts';
import { wavDataEnd } from '../audio/wav.ts';
import { ENGINE_RATE } from './audio-queue.ts';
import { type DecodedAudio, type DecodeLimits, MediaDecodeError } from './decoded-audio.ts';
import { decodeMulaw } from './mulaw.ts';

const PCM = 1;
const FLOAT = 3;
const MULAW = 7;
const EXTENSIBLE = 0xfffe;

export function isWav(bytes: Uint8Array): boolean {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 12));
  return b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WAVE';
}

interface Format {
  tag: number;
  channels: number;
  rate: number;
  bits: number;
}

function readFormat(b: Buffer, at: number, size: number): Format {
  if (size < 16) {
    throw new MediaDecodeError('WAV fmt chunk is too short');
  }
  let tag = b.readUInt16LE(at);
  if (tag === EXTENSIBLE && size >= 40) {
    tag = b.readUInt16LE(at + 24); // the sub-format GUID starts with the plain format tag
  }
  return { tag, channels: b.readUInt16LE(at + 2), rate: b.readUInt32LE(at + 4), bits: b.readUInt16LE(at + 14) };
}

function sampleReader(f: Format): { bytes: number; read: (b: Buffer, at: number) => number } {
  if (f.tag === PCM && f.bits === 8) {
    return { bytes: 1, read: (b, at) => (b.readUInt8(at) - 128) << 8 };
  }
  if (f.tag === PCM && f.bits === 16) {
    return { bytes: 2, read: (b, at) => b.readInt16LE(at) };
  }
  if (f.tag === PCM && f.bits === 24) {
    return { bytes: 3, read: (b, at) => b.readIntLE(at, 3) >> 8 };
  }
  if (f.tag === PCM && f.bits === 32) {
    return { bytes: 4, read: (b, at) => b.readInt32LE(at) >> 16 };
  }
  if (f.tag === FLOAT && f.bits === 32) {
    return { bytes: 4, read: (b, at) => Math.max(-32768, Math.min(32767, Math.round(b.readFloatLE(at) * 32767))) };
  }
  if (f.tag === MULAW && f.bits === 8) {
    return { bytes: 1, read: (b, at) => decodeMulaw(b.subarray(at, at + 1))[0] ?? 0 };
  }
  throw new MediaDecodeError(`WAV encoding ${f.tag}/${f.bits}-bit is not supported (use 16-bit PCM)`);
}

export async function decodeWav(bytes: Uint8Array, limits: DecodeLimits): Promise<DecodedAudio> {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (!isWav(b)) {
    throw new MediaDecodeError('not a RIFF/WAVE file');
  }
  let format: Format | null = null;
  let data: Buffer | null = null;
  for (let at = 12; at + 8 <= b.length; ) {
    const id = b.toString('latin1', at, at + 4);
    const declared = b.readUInt32LE(at + 4);
    const body = at + 8;
    // Only a data chunk's size may be a streaming writer's placeholder: any other chunk of size 0 is empty.
    const size = id === 'data' ? wavDataEnd(b, body, declared) - body : Math.min(declared, b.length - body);
    if (id === 'fmt ') {
      format = readFormat(b, body, size);
    } else if (id === 'data') {
      data = b.subarray(body, body + size);
      if (format) {
        break;
      }
    }
    at = body + size + (size % 2); // chunks are padded to even sizes
  }
  if (!format || !data) {
    throw new MediaDecodeError('WAV file has no fmt or data chunk');
  }
  if (format.channels < 1 || format.channels > 8 || format.rate < 8000 || format.rate > 48_000) {
    throw new MediaDecodeError(`WAV with ${format.channels} channels at ${format.rate} Hz is not supported`);
  }
  const reader = sampleReader(format);
  const frameBytes = reader.bytes * format.channels;
  const frames = Math.floor(data.length / frameBytes);
  // A download cut after the header is no file to play (the Ogg and MP3 decoders refuse theirs the same way).
  if (frames === 0) {
    throw new MediaDecodeError('no WAV audio: its data chunk holds no whole sample (is the file cut short?)');
  }
  const seconds = frames / format.rate;
  if (seconds > limits.maxSeconds) {
    throw new MediaDecodeError(`media is longer than ${limits.maxSeconds} s`);
  }
  const mono = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < format.channels; c++) {
      sum += reader.read(data, i * frameBytes + c * reader.bytes);
    }
    mono[i] = Math.round(sum / format.channels);
    if (i % format.rate === format.rate - 1) {
      await nextTurn(); // a second at a time: minutes of audio must not stall the calls' frame clocks
    }
  }
  return { pcm: await resampleInTurns(mono, format.rate, ENGINE_RATE), seconds };
}
