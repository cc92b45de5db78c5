import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dominant, sine } from '../../../test/helpers/tone.ts';
import { decodeOggOpus } from './decode-compressed.ts';
import { OggOpusWriter, oggCrc } from './ogg-opus-writer.ts';
import { OPUS_PRE_SKIP, OpusFrameEncoder } from './opus-encoder.ts';

function pagesOf(file: Buffer) {
  const pages: { flags: number; granule: bigint; sequence: number; crcOk: boolean; end: number; packets: number }[] =
    [];
  for (let at = 0; at < file.length; ) {
    assert.equal(file.toString('latin1', at, at + 4), 'OggS', `page at ${at}`);
    const segments = file.readUInt8(at + 26);
    let size = 27 + segments;
    let packets = 0;
    for (let i = 0; i < segments; i++) {
      const lacing = file.readUInt8(at + 27 + i);
      size += lacing;
      packets += lacing < 255 ? 1 : 0; // a segment under 255 bytes ends a packet
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
      packets,
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
  for (let i = 3; i < pages.length; i++) {
    if (pages[i]?.granule !== -1n) {
      assert.ok((pages[i]?.granule ?? 0n) >= (pages[i - 1]?.granule ?? 0n));
    }
  }
});

test('granule positions count the samples the packets decode to, pre-skip included (RFC 7845 §4), to the sample', () => {
  // 3 s end on a page boundary (the end-of-stream page holds no packet); 2.9 s do not.
  for (const seconds of [3, 2.9]) {
    const pages = pagesOf(record(seconds));
    const packets = Math.round((seconds * 48_000) / 960);
    let decoded = 0;
    for (const page of pages.slice(2)) {
      decoded += page.packets * 960;
      // A page on which no packet ends has no position (-1); any other gives every sample decoded so far, so that
      // the first audio page shows no start offset and the last marks exactly where the decoded audio ends.
      assert.equal(page.granule, page.packets === 0 ? -1n : BigInt(decoded), `${seconds} s, page ${page.sequence}`);
    }
    assert.equal(decoded, packets * 960);
    const ends = pages.filter((p) => p.granule !== -1n).at(-1)?.granule ?? 0n;
    // What a player plays: the last position less the pre-skip, which is what the decoder outputs after dropping it.
    assert.equal(ends - BigInt(OPUS_PRE_SKIP), BigInt(packets * 960 - OPUS_PRE_SKIP), `${seconds} s`);
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
