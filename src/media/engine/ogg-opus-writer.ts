// Ogg/Opus container writer (RFC 3533 pages, RFC 7845 OpusHead/OpusTags) for recordings. It emits a page every
// `packetsPerPage` packets so that a crash loses at most that much of a recording, and it never seeks back: the
// file is valid at every page boundary, and the last page carries the end-of-stream flag.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) {
      r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    }
    table[i] = r >>> 0;
  }
  return table;
})();

/** Ogg's CRC-32: polynomial 0x04c11db7, no reflection, initial value 0. */
export function oggCrc(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc = ((crc << 8) ^ (CRC_TABLE[((crc >>> 24) ^ b) & 0xff] ?? 0)) >>> 0;
  }
  return crc;
}

const BOS = 0x02;
const EOS = 0x04;

export interface OggOpusWriterOptions {
  channels: 1 | 2;
  /** Samples at 48 kHz the decoder drops at the start (the encoder's look-ahead). */
  preSkip: number;
  serial?: number;
  packetsPerPage?: number;
  vendor?: string;
}

export class OggOpusWriter {
  private readonly write: (chunk: Buffer) => void;
  private readonly serial: number;
  private readonly packetsPerPage: number;
  private sequence = 0;
  private granule: number;
  private pending: Buffer[] = [];
  private ended = false;

  constructor(write: (chunk: Buffer) => void, options: OggOpusWriterOptions) {
    this.write = write;
    this.serial = options.serial ?? Math.floor(Math.random() * 0xffffffff);
    this.packetsPerPage = options.packetsPerPage ?? 50;
    // RFC 7845 §4: a page's granule position counts every sample its packets decode to, the pre-skip among them (the
    // decoder drops those from its output). Starting at the pre-skip instead read as a start offset of 6.5 ms, and the
    // last page claimed 312 samples past the end of what the file decodes to.
    this.granule = 0;
    const head = Buffer.alloc(19);
    head.write('OpusHead', 0, 'latin1');
    head.writeUInt8(1, 8); // version
    head.writeUInt8(options.channels, 9);
    head.writeUInt16LE(options.preSkip, 10);
    head.writeUInt32LE(48_000, 12); // input rate, informational
    head.writeInt16LE(0, 16); // output gain
    head.writeUInt8(0, 18); // mapping family 0: mono or stereo
    const vendor = Buffer.from(options.vendor ?? 'callgate', 'utf8');
    const tags = Buffer.alloc(8 + 4 + vendor.length + 4);
    tags.write('OpusTags', 0, 'latin1');
    tags.writeUInt32LE(vendor.length, 8);
    vendor.copy(tags, 12);
    tags.writeUInt32LE(0, 12 + vendor.length); // no user comments
    this.page([head], BOS, 0);
    this.page([tags], 0, 0);
  }

  /** One Opus packet covering `samples` samples at 48 kHz (960 for 20 ms). */
  writePacket(packet: Uint8Array, samples: number): void {
    if (this.ended) {
      throw new Error('the Ogg stream has ended');
    }
    this.pending.push(Buffer.from(packet));
    this.granule += samples;
    if (this.pending.length >= this.packetsPerPage) {
      this.page(this.pending, 0, this.granule);
      this.pending = [];
    }
  }

  /** Writes what is pending and the end-of-stream page. */
  end(): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    // A page on which no packet ends has no granule position (RFC 3533: -1): the end is the previous page's.
    this.page(this.pending, EOS, this.pending.length > 0 ? this.granule : -1);
    this.pending = [];
  }

  private page(packets: Buffer[], flags: number, granule: number): void {
    const lacing: number[] = [];
    for (const p of packets) {
      // A packet is cut into 255-byte segments and ends with a segment under 255 (possibly 0).
      let left = p.length;
      while (left >= 255) {
        lacing.push(255);
        left -= 255;
      }
      lacing.push(left);
    }
    if (lacing.length > 255) {
      throw new Error('too many segments for one Ogg page');
    }
    const body = Buffer.concat(packets);
    const page = Buffer.alloc(27 + lacing.length + body.length);
    page.write('OggS', 0, 'latin1');
    page.writeUInt8(0, 4);
    page.writeUInt8(flags, 5);
    page.writeBigInt64LE(BigInt(granule), 6);
    page.writeUInt32LE(this.serial >>> 0, 14);
    page.writeUInt32LE(this.sequence++, 18);
    page.writeUInt32LE(0, 22); // CRC, filled below
    page.writeUInt8(lacing.length, 26);
    Buffer.from(lacing).copy(page, 27);
    body.copy(page, 27 + lacing.length);
    page.writeUInt32LE(oggCrc(page), 22);
    this.write(page);
  }
}
