// MEDIA_PUBLIC_IP, MEDIA_PORT_MIN/MAX and MEDIA_STUN_URLS as the engine's peers use them (docs/spec/media.md §3
// "Configuration": the public IP is what the candidates announce). No STUN server is configured and no remote
// peer exists, so making an offer sends nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../config.ts';
import { AudioEndpoint, LOOPBACK_ICE } from '../rtc/index.ts';
import { peerFactoryFor } from './media-peers.ts';

function candidates(sdp: string): string[] {
  return [...sdp.matchAll(/^a=candidate:\S+ \d+ (\S+) \d+ (\S+) (\d+) typ (\S+)/gm)].map(
    (m) => `${m[1]} ${m[2]} ${m[4]} ${Number(m[3]) >= 18_350 && Number(m[3]) <= 18_360 ? 'in-range' : m[3]}`,
  );
}

test('MEDIA_PUBLIC_IP is the one address the offer announces, on a port of MEDIA_PORT_MIN..MAX', async () => {
  const { media } = loadConfig({ MEDIA_PUBLIC_IP: '192.0.2.10', MEDIA_PORT_MIN: '18350', MEDIA_PORT_MAX: '18360' });
  const factory = peerFactoryFor(media);
  assert.deepEqual(factory.policy, {
    kind: 'configured',
    announceAddresses: ['192.0.2.10'],
    portRange: [18_350, 18_360],
    stunUrls: [],
  });
  const endpoint = new AudioEndpoint(factory);
  try {
    assert.deepEqual(candidates(await endpoint.createOffer()), ['udp 192.0.2.10 host in-range']);
  } finally {
    await endpoint.close();
  }
});

test('MEDIA_STUN_URLS reach the peers; a loopback MEDIA_PUBLIC_IP keeps every peer on 127.0.0.1', () => {
  const stun = loadConfig({ MEDIA_PUBLIC_IP: '203.0.113.7', MEDIA_STUN_URLS: 'stun:stun.example.org:3478' }).media;
  assert.deepEqual(peerFactoryFor(stun).policy, {
    kind: 'configured',
    announceAddresses: ['203.0.113.7'],
    stunUrls: ['stun:stun.example.org:3478'],
  });
  assert.deepEqual(peerFactoryFor(loadConfig({ MEDIA_PUBLIC_IP: '127.0.0.1' }).media).policy, LOOPBACK_ICE);
});
