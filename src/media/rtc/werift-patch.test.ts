// patches/werift+0.25.2.patch (applied by `npm install`'s postinstall) gives every SRTP session one key object
// instead of importing its raw keys for every packet, reads header bits with arithmetic instead of strings, and
// makes no promise when an event without async listeners fires, and keeps no history of sent RTP packets for a
// peer that cannot ask for them (no NACK negotiated). AES-CM SRTP packets are made without a cipher or Hmac object
// each, and that profile is preferred (docs/design.md "Patched dependencies").
// Without the patch werift still works, only slower, so this guards that it is applied, and that what it changed
// still gives werift's own answers.
import assert from 'node:assert/strict';
import { createCipheriv, createHmac, createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  Event,
  getBit,
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCSessionDescription,
  RtpHeader,
  RtpPacket,
  SrtpSession,
} from 'werift';

const PROFILES = [
  { name: 'AES_CM_128_HMAC_SHA1_80', id: 1, keyBytes: 16, saltBytes: 14 },
  { name: 'AEAD_AES_128_GCM', id: 7, keyBytes: 16, saltBytes: 12 },
];

function pair(profile: (typeof PROFILES)[number]) {
  const a = { key: randomBytes(profile.keyBytes), salt: randomBytes(profile.saltBytes) };
  const b = { key: randomBytes(profile.keyBytes), salt: randomBytes(profile.saltBytes) };
  const session = (local: typeof a, remote: typeof a) =>
    new SrtpSession({
      keys: {
        localMasterKey: local.key,
        localMasterSalt: local.salt,
        remoteMasterKey: remote.key,
        remoteMasterSalt: remote.salt,
      },
      profile: profile.id,
    });
  return { sender: session(a, b), receiver: session(b, a) };
}

describe('werift SRTP (patched)', () => {
  for (const profile of PROFILES) {
    it(`${profile.name}: one key object per session, packets round-trip, tampering is refused`, () => {
      const { sender, receiver } = pair(profile);
      const cipher = (sender.localContext as unknown as { cipher: Record<string, unknown> }).cipher;
      assert.ok(cipher.srtpKeyObject instanceof KeyObject, 'the SRTP key is a KeyObject: the patch is applied');
      assert.ok(cipher.srtcpKeyObject instanceof KeyObject);

      for (let seq = 1; seq <= 3; seq++) {
        const payload = randomBytes(80);
        const header = new RtpHeader({ payloadType: 111, sequenceNumber: seq, timestamp: seq * 960, ssrc: 1234 });
        const packet = sender.encrypt(payload, header);
        assert.ok(!packet.subarray(12).includes(payload), 'the payload is encrypted');
        const clear = receiver.decrypt(packet);
        assert.deepEqual(clear.subarray(clear.length - payload.length), payload);

        const tampered = Buffer.from(packet);
        tampered[20] = (tampered[20] ?? 0) ^ 0xff;
        assert.throws(() => receiver.decrypt(tampered));
      }
    });
  }
});

interface CtrCipher {
  srtpSessionKey: Buffer;
  srtpSessionSalt: Buffer;
  srtpSessionAuthTag: Buffer;
  encryptRtp(header: RtpHeader, payload: Buffer, rolloverCounter: number): Buffer;
  decryptRtp(packet: Buffer, rolloverCounter: number): [Buffer, RtpHeader];
}

/** RFC 3711 as Node's own AES-CTR and HMAC give it: what werift did before the patch, one object per packet. */
function referenceSrtp(cipher: CtrCipher, header: RtpHeader, payload: Buffer, rolloverCounter: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(header.ssrc, 4);
  iv.writeUInt32BE(rolloverCounter, 8);
  iv.writeUInt16BE(header.sequenceNumber, 12);
  cipher.srtpSessionSalt.forEach((byte, i) => {
    iv[i] = (iv[i] ?? 0) ^ byte;
  });
  const encrypted = createCipheriv('aes-128-ctr', cipher.srtpSessionKey, iv).update(payload);
  const clearHeader = header.serialize(header.serializeSize);
  const roc = Buffer.alloc(4);
  roc.writeUInt32BE(rolloverCounter);
  const tag = createHmac('sha1', cipher.srtpSessionAuthTag)
    .update(clearHeader)
    .update(encrypted)
    .update(roc)
    .digest()
    .subarray(0, 10);
  return Buffer.concat([clearHeader, encrypted, tag]);
}

describe('werift AES-CM SRTP without a cipher object per packet (patched)', () => {
  const ctrCipher = (session: SrtpSession) => (session.localContext as unknown as { cipher: CtrCipher }).cipher;

  it('gives byte for byte what AES-CTR and HMAC-SHA1 give, for every payload length, sequence and rollover', () => {
    const { sender, receiver } = pair(PROFILES[0] as (typeof PROFILES)[number]);
    const cipher = ctrCipher(sender);
    const remote = (receiver.remoteContext as unknown as { cipher: CtrCipher }).cipher;
    assert.match(String(cipher.encryptRtp), /xorKeystream/, 'the patch is applied');
    const sizes = [1, 15, 16, 17, 31, 32, 33, 160, 1200, 4096, 20];
    for (const [i, size] of sizes.entries()) {
      const payload = randomBytes(size);
      const header = new RtpHeader({
        payloadType: 111,
        sequenceNumber: (i * 7919) & 0xffff,
        timestamp: i * 960,
        ssrc: 0x80000000 + i,
        marker: i % 2 === 0,
      });
      const rolloverCounter = i === 0 ? 0 : 0xfffffff0 + i;
      const packet = cipher.encryptRtp(header, payload, rolloverCounter);
      assert.deepEqual(packet, referenceSrtp(cipher, header, payload, rolloverCounter), `${size} bytes`);
      const [clear] = remote.decryptRtp(packet, rolloverCounter);
      assert.deepEqual(clear.subarray(clear.length - size), payload);
      assert.throws(() => remote.decryptRtp(packet, rolloverCounter + 1), /authenticate/, 'the ROC is authenticated');
    }
  });

  it('reproduces the AES-CM keystream of RFC 3711 appendix B.2', () => {
    const { sender } = pair(PROFILES[0] as (typeof PROFILES)[number]);
    const cipher = ctrCipher(sender);
    cipher.srtpSessionKey = Buffer.from('2B7E151628AED2A6ABF7158809CF4F3C', 'hex');
    cipher.srtpSessionSalt = Buffer.from('F0F1F2F3F4F5F6F7F8F9FAFBFCFD', 'hex');
    Object.assign(cipher, { srtpKeyObject: createSecretKey(cipher.srtpSessionKey), srtpEcb: undefined });
    const header = new RtpHeader({ payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0 });
    // Encrypting zeros leaves the keystream itself after the 12-byte header.
    const packet = cipher.encryptRtp(header, Buffer.alloc(48), 0);
    assert.equal(
      packet.subarray(12, 60).toString('hex').toUpperCase(),
      'E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0',
    );
  });
});

/** werift 0.25.2's own getBit: a byte as a string of 8 binary digits, sliced. */
function getBitAsStrings(bits: number, startIndex: number, length = 1): number {
  const digits = bits.toString(2).padStart(8, '0');
  return Number.parseInt(digits.slice(startIndex, startIndex + length), 2);
}

describe('werift getBit (patched)', () => {
  it('reads a byte with shifts and gives the original answer for every byte, start and length', () => {
    for (let bits = 0; bits < 256; bits++) {
      for (let start = 0; start < 8; start++) {
        for (let length = 1; length <= 8; length++) {
          assert.equal(getBit(bits, start, length), getBitAsStrings(bits, start, length), `${bits} ${start} ${length}`);
        }
      }
    }
    // The patch is applied: a byte is read with shifts (the original went through bits.toString(2) every time).
    assert.match(String(getBit), /return \(bits >> \(8 - startIndex - length\)\)/);
  });
});

describe('werift events (patched)', () => {
  it('still run plain listeners at once and queued ones in order, with their errors reported', async () => {
    const event = new Event<[number]>();
    const plain: number[] = [];
    event.subscribe((n) => plain.push(n));
    event.execute(1);
    assert.deepEqual(plain, [1], 'a plain listener runs inside execute');

    const queued: number[] = [];
    const errors: unknown[] = [];
    event.onerror = (e) => errors.push(e);
    event.queuingSubscribe(async (n) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      queued.push(n);
      if (n === 3) {
        throw new Error('listener failed');
      }
    });
    event.execute(2);
    event.execute(3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(plain, [1, 2, 3]);
    assert.deepEqual(queued, [2, 3]);
    assert.equal(errors.length, 1);
    // The patch is applied: no async work is started for an event that has no queued listener.
    assert.match(String(new Event().execute), /promiseStack\.length === 0/);
  });
});

/** Two werift peers on 127.0.0.1 whose Opus carries these RTCP feedbacks; resolves with the offerer's sender once connected. */
async function connectedSender(rtcpFeedback: { type: string }[]) {
  const config = {
    codecs: {
      audio: [
        new RTCRtpCodecParameters({
          mimeType: 'audio/opus',
          clockRate: 48_000,
          channels: 2,
          payloadType: 111,
          rtcpFeedback,
        }),
      ],
    },
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceServers: [],
  };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  const track = new MediaStreamTrack({ kind: 'audio' });
  const { sender } = a.addTransceiver(track, { direction: 'sendrecv' });
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription as RTCSessionDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription as RTCSessionDescription);
  await new Promise<void>((resolve) => {
    a.connectionStateChange.subscribe((s) => s === 'connected' && resolve());
  });
  return { sender, track, close: () => Promise.all([a.close(), b.close()]) };
}

describe('werift RTP history (patched)', () => {
  for (const [feedback, kept] of [
    [[{ type: 'transport-cc' }], 0],
    [[{ type: 'nack' }], 5],
  ] as const) {
    it(`${feedback[0]?.type}: ${kept ? 'sent packets are kept for retransmission' : 'sent packets are not kept (no peer will ask for them)'}`, async () => {
      const { sender, track, close } = await connectedSender([...feedback]);
      try {
        for (let seq = 1; seq <= 5; seq++) {
          const header = new RtpHeader({ payloadType: 111, sequenceNumber: seq, timestamp: seq * 960 });
          track.writeRtp(new RtpPacket(header, Buffer.alloc(40, seq)));
        }
        await new Promise((r) => setTimeout(r, 100));
        assert.ok((sender as unknown as { packetCount: number }).packetCount >= 5, 'the packets were sent');
        assert.equal((sender as unknown as { rtpCache: unknown[] }).rtpCache.filter(Boolean).length, kept);
        const srtp = (sender as unknown as { dtlsTransport: { srtp: SrtpSession } }).dtlsTransport.srtp;
        assert.equal(srtp.config.profile, 1, 'two werift peers agree on AES-CM, which the patch puts first');
      } finally {
        await close();
      }
    });
  }
});
