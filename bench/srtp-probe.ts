// One SRTP variant, alone in its process so its garbage collections are its own: encrypts and decrypts PACKETS RTP
// packets of a 20 ms Opus frame's size and prints {usPerPacket, gcUsPerPacket} as JSON. Variants:
// - `aes-cm`: werift's SrtpSession as patched (AES_CM_128_HMAC_SHA1_80, no object per packet);
// - `aes-gcm`: werift's SrtpSession with AEAD_AES_128_GCM (a Node cipher per packet);
// - `per-packet`: AES-CM as werift 0.25.2 made it, a Node AES-CTR cipher and an Hmac per packet (the baseline).
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import { RtpHeader, SrtpSession } from 'werift';

const PACKETS = 100_000;
const WARM_UP = 5_000;
const PAYLOAD = randomBytes(120);

type Codec = { encrypt(payload: Buffer, header: RtpHeader): Buffer; decrypt(packet: Buffer): Buffer };

function weriftSession(profile: 1 | 7): Codec {
  const salt = profile === 1 ? 14 : 12;
  const a = { key: randomBytes(16), salt: randomBytes(salt) };
  const b = { key: randomBytes(16), salt: randomBytes(salt) };
  const session = (l: typeof a, r: typeof a) =>
    new SrtpSession({
      keys: { localMasterKey: l.key, localMasterSalt: l.salt, remoteMasterKey: r.key, remoteMasterSalt: r.salt },
      profile,
    });
  const sender = session(a, b);
  const receiver = session(b, a);
  return { encrypt: (p, h) => sender.encrypt(p, h), decrypt: (packet) => receiver.decrypt(packet) };
}

/**
 * RFC 3711 AES-CM with HMAC-SHA1-80 the way werift 0.25.2 did it, with the patch's key objects: one cipher and one
 * Hmac object per packet.
 */
function perPacketObjects(): Codec {
  const key = createSecretKey(randomBytes(16));
  const salt = randomBytes(14);
  const authKey = createSecretKey(randomBytes(20));
  const iv = (h: RtpHeader) => {
    const counter = Buffer.alloc(16);
    counter.writeUInt32BE(h.ssrc, 4);
    counter.writeUInt16BE(h.sequenceNumber, 12);
    salt.forEach((byte, i) => {
      counter[i] = (counter[i] ?? 0) ^ byte;
    });
    return counter;
  };
  const tag = (...parts: Buffer[]) => {
    const hmac = createHmac('sha1', authKey);
    for (const part of parts) {
      hmac.update(part);
    }
    return hmac.update(Buffer.alloc(4)).digest().subarray(0, 10);
  };
  return {
    encrypt(payload, header) {
      const head = header.serialize(header.serializeSize);
      const encrypted = createCipheriv('aes-128-ctr', key, iv(header)).update(payload);
      return Buffer.concat([head, encrypted, tag(head, encrypted)]);
    },
    decrypt(packet) {
      const header = RtpHeader.deSerialize(packet);
      const end = packet.length - 10;
      if (!timingSafeEqual(packet.subarray(end), tag(packet.subarray(0, end)))) {
        throw new Error('bad tag');
      }
      const clear = createDecipheriv('aes-128-ctr', key, iv(header)).update(packet.subarray(header.payloadOffset, end));
      return Buffer.concat([packet.subarray(0, header.payloadOffset), clear]);
    },
  };
}

const variant = process.argv[2];
const codec =
  variant === 'aes-cm'
    ? weriftSession(1)
    : variant === 'aes-gcm'
      ? weriftSession(7)
      : variant === 'per-packet'
        ? perPacketObjects()
        : null;
if (!codec) {
  throw new Error(`unknown variant ${variant}`);
}

function run(count: number): void {
  for (let i = 0; i < count; i++) {
    const header = new RtpHeader({ payloadType: 111, sequenceNumber: i & 0xffff, timestamp: i * 960, ssrc: 5 });
    codec?.decrypt(codec.encrypt(PAYLOAD, header));
  }
}

run(WARM_UP);
let gcMs = 0;
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcMs += e.duration;
  }
});
observer.observe({ entryTypes: ['gc'] });
const started = performance.now();
run(PACKETS);
const elapsed = performance.now() - started;
// GC entries are delivered asynchronously.
await new Promise((resolve) => setTimeout(resolve, 100));
observer.disconnect();
console.log(JSON.stringify({ usPerPacket: (elapsed * 1000) / PACKETS, gcUsPerPacket: (gcMs * 1000) / PACKETS }));
