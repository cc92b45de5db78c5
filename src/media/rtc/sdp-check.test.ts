// The SDP check the sandbox (as Meta) and the engine (before reserving anything) apply: Meta's own offer and a
// werift peer's pass; each missing part is named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CANNED_OFFER_SDP } from '../../../test/fakes/meta-graph.ts';
import { AudioEndpoint } from './audio-endpoint.ts';
import { createPeerFactory, LOOPBACK_ICE } from './peer-factory.ts';
import { webRtcAudioProblem } from './sdp-check.ts';

test("Meta's offer and a werift peer's offer are WebRTC audio sessions", async () => {
  assert.equal(webRtcAudioProblem(CANNED_OFFER_SDP), null);
  const peer = new AudioEndpoint(createPeerFactory(LOOPBACK_ICE), { monitor: false });
  try {
    assert.equal(webRtcAudioProblem(await peer.createOffer()), null);
  } finally {
    await peer.close();
  }
});

test('each missing part of a WebRTC audio session is named', () => {
  const without = (pattern: RegExp) => CANNED_OFFER_SDP.replace(pattern, '');
  assert.equal(webRtcAudioProblem('not an sdp'), 'no v=0 line');
  assert.equal(
    webRtcAudioProblem(CANNED_OFFER_SDP.replace('UDP/TLS/RTP/SAVPF', 'RTP/AVP')),
    'no WebRTC audio (m=audio … UDP/TLS/RTP/SAVPF)',
  );
  assert.equal(webRtcAudioProblem(without(/a=ice-ufrag:.*\r\n/)), 'no a=ice-ufrag');
  assert.equal(webRtcAudioProblem(without(/a=ice-pwd:.*\r\n/)), 'no a=ice-pwd');
  assert.equal(webRtcAudioProblem(without(/a=fingerprint:.*\r\n/)), 'no a=fingerprint');
  assert.equal(webRtcAudioProblem(without(/a=rtpmap:111 opus.*\r\n/)), 'no Opus');
});

test('an offer with hundreds of media sections or candidates is refused before any peer sees it', () => {
  const audio = CANNED_OFFER_SDP.slice(CANNED_OFFER_SDP.indexOf('m=audio'));
  const many = CANNED_OFFER_SDP + audio.repeat(900);
  assert.equal(webRtcAudioProblem(many), '901 media sections (m=): a call has at most 4');
  const candidates = CANNED_OFFER_SDP.replace(
    'a=ice-ufrag',
    `${'a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n'.repeat(70)}a=ice-ufrag`,
  );
  assert.equal(
    webRtcAudioProblem(candidates),
    `${70 + (CANNED_OFFER_SDP.match(/^a=candidate:/gm)?.length ?? 0)} ICE candidates: at most 64`,
  );
});
