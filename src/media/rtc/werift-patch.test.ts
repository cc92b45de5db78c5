// patches/werift+0.25.2.patch (applied by `npm install`'s postinstall) gives every SRTP session one key object
// instead of importing its raw keys for every packet, reads header bits with arithmetic instead of strings, and
// makes no promise when an event without async listeners fires, and keeps no history of sent RTP packets for a
// peer that cannot ask for them (no NACK negotiated).
// Without the patch werift still works, only slower, so this guards that it is applied, and that what it changed
// still gives werift's own answers.
import assert from 'node:assert/strict';
import { KeyObject, randomBytes } from 'node:crypto';
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
      } finally {
        await close();
      }
    });
  }
});
