// The Evolution fake's QR as a real image: what a scanner (or a browser's <img>) gets from the real server. The
// `qrcode` package lays out the modules; this writes them as a grayscale PNG on node:zlib, synchronously, because the
// fake answers its routes synchronously.
import { crc32, deflateSync } from 'node:zlib';
import QRCode from 'qrcode';

const SCALE = 6;
/** The quiet zone scanners need around the code, in modules. */
const MARGIN = 4;

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export function qrPng(text: string): Buffer {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const side = (modules.size + 2 * MARGIN) * SCALE;
  // Each row: filter byte 0, then one byte per pixel (0 black, 255 white).
  const raw = Buffer.alloc(side * (side + 1), 255);
  for (let y = 0; y < side; y++) {
    raw[y * (side + 1)] = 0;
    const row = Math.floor(y / SCALE) - MARGIN;
    for (let x = 0; x < side; x++) {
      const col = Math.floor(x / SCALE) - MARGIN;
      const inside = row >= 0 && col >= 0 && row < modules.size && col < modules.size;
      if (inside && modules.get(row, col)) {
        raw[y * (side + 1) + 1 + x] = 0;
      }
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header.set([8, 0, 0, 0, 0], 8); // 8-bit grayscale, deflate, no filter method variants, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export const qrDataUrl = (text: string) => `data:image/png;base64,${qrPng(text).toString('base64')}`;
