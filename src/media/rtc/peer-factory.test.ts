import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AudioEndpoint } from './audio-endpoint.ts';
import { createPeerFactory } from './peer-factory.ts';

function candidates(sdp: string): string[] {
  return [...sdp.matchAll(/^a=candidate:\S+ \d+ (\S+) \d+ (\S+) (\d+) typ (\S+)/gm)].map(
    (m) => `${m[1]} ${m[2]} ${m[4]} ${Number(m[3]) >= 40_000 && Number(m[3]) <= 40_010 ? 'in-range' : m[3]}`,
  );
}

describe('peer factory', () => {
  it('announces only the configured address, on a port from the configured range', async () => {
    const factory = createPeerFactory({
      kind: 'configured',
      announceAddresses: ['192.0.2.10'],
      bindAddress: '127.0.0.1',
      portRange: [40_000, 40_010],
    });
    const endpoint = new AudioEndpoint(factory);
    try {
      const offer = await endpoint.createOffer();
      assert.deepEqual(candidates(offer), ['udp 192.0.2.10 host in-range']);
    } finally {
      await endpoint.close();
    }
  });
});
