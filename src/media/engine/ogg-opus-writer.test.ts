import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dominant, sine } from '../../../test/helpers/tone.ts';
import { decodeOggOpus } from './decode-compressed.ts';
import { OggOpusWriter, oggCrc } from './ogg-opus-writer.ts';
import { OPUS_PRE_SKIP, OpusFrameEncoder } from './opus-encoder.ts';

function pagesOf(file: Buffer) {
  const pages: { flags: number; granule: bigint; sequence: number; crcOk: boolean; end: number }[] = [];
  for (let at = 0; at < file.length; ) {
    assert.equal(file.toString('latin1', at, at + 4), 'OggS', `page at ${at}`);
    const segments = file.readUInt8(at + 26);
    let size = 27 + segments;
    for (let i = 0; i < segments; i++) {
      size += file.readUInt8(at + 27 + i);
    }
    const page = Buffer.from(file.subarray(at, at + size));
    const crc = page.readUInt32LE(22);
    page.writeUInt32LE(0, 22);
    pages.push({
      flags: page.readUInt8(5),
      granule: page.readBigInt64LE(6),
      sequence: page.readUInt32LE(18),
      crcOk: oggCrc(page) === crc,
      end: at + size,
    });
    at += size;
  }
  return pages;
}

function record(seconds: number, packetsPerPage = 50): Buffer {
  const enc = new OpusFrameEncoder(1);
  const chunks: Buffer[] = [];
  const w = new OggOpusWriter((c) => chunks.push(c), { channels: 1, preSkip: OPUS_PRE_SKIP, packetsPerPage });
  const pcm = sine(660, 48_000, seconds);
  for (let i = 0; i + 960 <= pcm.length; i += 960) {
    w.writePacket(enc.encode(pcm.subarray(i, i + 960)), 960);
  }
  w.end();
  enc.close();
  return Buffer.concat(chunks);
}

test('Ogg CRC matches the published check value of the Ogg polynomial', () => {
  // CRC-32/MPEG-2 without reflection or final xor, initial 0 ("CRC-32/OGG"): check value for "123456789".
  assert.equal(oggCrc(Buffer.from('123456789')), 0x89a1897f);
});

test('pages carry valid CRCs, counted sequence numbers, BOS first, EOS last and growing granule positions', () => {
  const pages = pagesOf(record(3));
  assert.ok(pages.every((p) => p.crcOk));
  assert.deepEqual(
    pages.map((p) => p.sequence),
    pages.map((_, i) => i),
  );
  assert.equal(pages[0]?.flags, 0x02);
  assert.equal(pages.at(-1)?.flags, 0x04);
  assert.equal(pages.at(-1)?.granule, BigInt(OPUS_PRE_SKIP + 150 * 960));
  for (let i = 3; i < pages.length; i++) {
    assert.ok((pages[i]?.granule ?? 0n) >= (pages[i - 1]?.granule ?? 0n));
  }
});

test('an independent Ogg/Opus decoder reads the file back: 660 Hz for the recorded length', async () => {
  const decoded = await decodeOggOpus(record(2), { maxSeconds: 60 });
  assert.ok(Math.abs(decoded.seconds - 2) < 0.05, `seconds ${decoded.seconds}`);
  assert.equal(dominant(decoded.pcm.subarray(4800), 48_000, [440, 660, 880]), 660);
});

test('a file cut at a page boundary (a crash mid-recording) still decodes up to that page', async () => {
  const file = record(3, 25);
  const pages = pagesOf(file);
  const cut = file.subarray(0, pages[4]?.end); // heads + 3 pages of 0.5 s
  const decoded = await decodeOggOpus(cut, { maxSeconds: 60 });
  assert.ok(Math.abs(decoded.seconds - 1.5) < 0.05, `seconds ${decoded.seconds}`);
});
