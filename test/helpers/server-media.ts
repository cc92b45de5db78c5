// Server-media calls the way production gets them: a werift peer plays the WhatsApp user, its offer arrives in a
// signed Meta connect webhook, and the answer callgate sends Meta is applied at the user's end. ICE on 127.0.0.1.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OggOpusDecoder } from 'ogg-opus-decoder';
import { dominantFrequency } from '../../src/media/audio/detect.ts';
import {
  AudioEndpoint,
  createPeerFactory,
  LOOPBACK_ICE,
  silenceSource,
  toneSource,
} from '../../src/media/rtc/index.ts';
import type { Call } from '../../src/model/call.ts';
import { eventually, type TestApp, type TestNumber } from './build-test-app.ts';
import { nextPeer, storedCall } from './calls.ts';

const factory = createPeerFactory(LOOPBACK_ICE);

export interface UserCall {
  user: AudioEndpoint;
  call: Call;
}

/** Media files on loopback (the SSRF guard is lifted by WEBHOOK_ALLOW_INSECURE_URLS in these tests). */
export async function mediaServer(
  files: Record<string, Buffer>,
): Promise<{ server: Server; url: (name: string) => string }> {
  const server = createServer((req, res) => {
    const body = files[(req.url ?? '').slice(1)];
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/octet-stream' });
    res.end(body ?? 'not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { server, url: (name) => `http://127.0.0.1:${port}/${name}` };
}

/** A user calling `number` (numberA by default) with a tone (0: silence); the call is stored RINGING. */
export async function startCall(
  t: TestApp,
  endpoints: AudioEndpoint[],
  freq = 440,
  number: TestNumber = t.numberA,
): Promise<UserCall> {
  const user = new AudioEndpoint(factory, { source: freq ? toneSource(freq) : silenceSource });
  endpoints.push(user);
  const offer = await user.createOffer();
  const wacid = await t.fake.incomingCall({ phoneNumberId: number.phoneNumberId, from: nextPeer(), sdp: offer });
  const call = await eventually(() => storedCall(t, number, wacid), 3000, 'the call');
  return { user, call };
}

/** The (last) answer callgate sent Meta for this call, applied at the user's end (as Meta's servers would). */
export async function connectUser(t: TestApp, { user, call }: UserCall): Promise<void> {
  const sent = t.fake.requests.findLast((r) => r.body?.call_id === call.externalCallId && r.body?.action === 'accept');
  assert.ok(sent, 'callgate sent an accept');
  assert.equal(sent.body.session.sdp_type, 'answer');
  await user.applyAnswer(sent.body.session.sdp);
  await user.connected();
}

/**
 * Each channel's pitch within 1 % of the one expected (null: silence). A second of a call decoded from its recording
 * may hold a concealed frame (a packet late on a loaded machine), which moves the peak by a hertz.
 */
export function assertPitchesNear(
  actual: readonly (number | null)[],
  expected: readonly (number | null)[],
  tolerance = 0.01,
): void {
  const near =
    actual.length === expected.length &&
    actual.every((hz, i) => {
      const want = expected[i] ?? null;
      return hz === null || want === null ? hz === want : Math.abs(hz - want) <= want * tolerance;
    });
  assert.ok(near, `pitches ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)} ± ${tolerance * 100} %`);
}

/** The dominant pitch of each channel of a stereo Ogg/Opus recording, between 0.6 s and 1.6 s. */
export async function recordedPitches(ogg: Uint8Array): Promise<[number | null, number | null]> {
  const decoder = new OggOpusDecoder();
  await decoder.ready;
  const audio = await decoder.decodeFile(ogg);
  decoder.free();
  const channel = (i: number) =>
    Int16Array.from(
      (audio.channelData[i] ?? new Float32Array()).subarray(48_000 * 0.6, 48_000 * 1.6),
      (x) => x * 32767,
    );
  return [dominantFrequency(channel(0), 48_000), dominantFrequency(channel(1), 48_000)];
}
