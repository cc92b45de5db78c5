// Picks the decoder by the file's first bytes, not by its URL or Content-Type (both are often wrong).

import { decodeMp3, decodeOggOpus } from './decode-compressed.ts';
import { decodeWav, isWav } from './decode-wav.ts';
import { type DecodedAudio, type DecodeLimits, MediaDecodeError } from './decoded-audio.ts';

export type MediaKind = 'wav' | 'ogg' | 'mp3';

export function sniffMedia(bytes: Uint8Array): MediaKind | null {
  if (isWav(bytes)) {
    return 'wav';
  }
  if (bytes[0] === 0x4f && bytes[1] === 0x67 && bytes[2] === 0x67 && bytes[3] === 0x53) {
    return 'ogg'; // "OggS"
  }
  if (bytes[0] === 0x49 && bytes[1] === 0x44 && bytes[2] === 0x33) {
    return 'mp3'; // "ID3" tag before the first frame
  }
  if (bytes[0] === 0xff && ((bytes[1] ?? 0) & 0xe0) === 0xe0 && ((bytes[1] ?? 0) & 0x06) !== 0) {
    return 'mp3'; // MPEG audio frame sync with a layer set
  }
  return null;
}

export async function decodeMedia(bytes: Uint8Array, limits: DecodeLimits): Promise<DecodedAudio> {
  switch (sniffMedia(bytes)) {
    case 'wav':
      return decodeWav(bytes, limits);
    case 'ogg':
      return decodeOggOpus(bytes, limits);
    case 'mp3':
      return decodeMp3(bytes, limits);
    case null:
      throw new MediaDecodeError('unsupported media: play takes WAV, Ogg/Opus or MP3');
  }
}
