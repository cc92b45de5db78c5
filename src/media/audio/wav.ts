// WAV (RIFF PCM) reading and writing: fixtures for tests, files for `--audio file.wav` and fake microphones.

export interface PcmAudio {
  sampleRate: number;
  /** Mono 16-bit samples; multi-channel files are mixed down. */
  samples: Int16Array;
}

export class WavFormatError extends Error {
  override name = 'WavFormatError';
}

/**
 * Where the data chunk whose body starts at `body` ends, given the size its header declares. A size of 0 or
 * 0xFFFFFFFF is what a writer streaming to a pipe leaves when it cannot go back: its data runs to the end of the file.
 * But 0 is also an honest empty data chunk, and non-streamed files often carry chunks after their data (LIST, id3 ,
 * cue ): when what follows is whole chunks up to the end, the data is empty, not those chunks read as audio.
 */
export function wavDataEnd(b: Buffer, body: number, declared: number): number {
  if (declared !== 0 && declared !== 0xffffffff) {
    return Math.min(b.length, body + declared);
  }
  return wholeChunksFrom(b, body) ? body : b.length;
}

/**
 * Whether the bytes from `at` to the end are one or more whole RIFF chunks: each a four-character printable id and a
 * size that fits, the last ending at the end of the file (its pad byte may be missing). Audio (samples) is no such
 * chain: a streamed data chunk's samples would have to spell ids and sizes that land exactly on the file's end.
 */
function wholeChunksFrom(b: Buffer, at: number): boolean {
  if (at + 8 > b.length) {
    return false;
  }
  while (at + 8 <= b.length) {
    for (let i = at; i < at + 4; i++) {
      const c = b[i] ?? 0;
      if (c < 0x20 || c > 0x7e) {
        return false;
      }
    }
    const size = b.readUInt32LE(at + 4);
    if (at + 8 + size > b.length) {
      return false;
    }
    at += 8 + size + (size % 2);
  }
  return at === b.length || at === b.length + 1;
}

/** Reads 8/16/24/32-bit integer PCM and 32-bit float WAV files, any channel count, into mono 16-bit. */
export function readWav(data: Buffer): PcmAudio {
  if (data.length < 12 || data.toString('ascii', 0, 4) !== 'RIFF' || data.toString('ascii', 8, 12) !== 'WAVE') {
    throw new WavFormatError('not a RIFF/WAVE file');
  }
  let offset = 12;
  let format: { audioFormat: number; channels: number; sampleRate: number; bitsPerSample: number } | null = null;
  while (offset + 8 <= data.length) {
    const id = data.toString('ascii', offset, offset + 4);
    const size = data.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > data.length) {
        throw new WavFormatError('truncated fmt chunk');
      }
      let audioFormat = data.readUInt16LE(body);
      if (audioFormat === 0xfffe && size >= 40) {
        // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
        audioFormat = data.readUInt16LE(body + 24);
      }
      format = {
        audioFormat,
        channels: data.readUInt16LE(body + 2),
        sampleRate: data.readUInt32LE(body + 4),
        bitsPerSample: data.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!format) {
        throw new WavFormatError('data chunk before fmt chunk');
      }
      const end = wavDataEnd(data, body, size);
      return { sampleRate: format.sampleRate, samples: decodeSamples(data.subarray(body, end), format) };
    }
    offset = body + size + (size % 2);
  }
  throw new WavFormatError('no data chunk');
}

function decodeSamples(
  bytes: Buffer,
  format: { audioFormat: number; channels: number; sampleRate: number; bitsPerSample: number },
): Int16Array {
  const { audioFormat, channels, bitsPerSample, sampleRate } = format;
  if (channels < 1 || sampleRate < 1000 || sampleRate > 384_000) {
    throw new WavFormatError('unsupported channel count or sample rate');
  }
  const width = bitsPerSample / 8;
  const isFloat = audioFormat === 3 && bitsPerSample === 32;
  if (!(isFloat || (audioFormat === 1 && [1, 2, 3, 4].includes(width)))) {
    throw new WavFormatError(`unsupported WAV encoding (format ${audioFormat}, ${bitsPerSample} bits)`);
  }
  const frames = Math.floor(bytes.length / (width * channels));
  const out = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) {
      sum += readSample(bytes, (i * channels + c) * width, width, isFloat);
    }
    out[i] = Math.max(-32768, Math.min(32767, Math.round((sum / channels) * 32768)));
  }
  return out;
}

/** One sample as a float in -1..1. */
function readSample(bytes: Buffer, at: number, width: number, isFloat: boolean): number {
  if (isFloat) {
    return bytes.readFloatLE(at);
  }
  switch (width) {
    case 1:
      return ((bytes[at] ?? 128) - 128) / 128;
    case 2:
      return bytes.readInt16LE(at) / 32768;
    case 3:
      return bytes.readIntLE(at, 3) / 8388608;
    default:
      return bytes.readInt32LE(at) / 2147483648;
  }
}

/** A mono 16-bit PCM WAV file. */
export function writeWav(audio: PcmAudio): Buffer {
  const dataBytes = audio.samples.length * 2;
  const out = Buffer.alloc(44 + dataBytes);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(audio.sampleRate, 24);
  out.writeUInt32LE(audio.sampleRate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < audio.samples.length; i++) {
    out.writeInt16LE(audio.samples[i] ?? 0, 44 + i * 2);
  }
  return out;
}
