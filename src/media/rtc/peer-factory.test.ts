import assert from 'node:assert/strict';
import dns from 'node:dns';
import { describe, it, mock } from 'node:test';
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

  it('with no STUN server configured, no STUN server is asked (patched werift) and the SDP does not wait on a DNS', async () => {
    const realLookup = dns.promises.lookup;
    const held: (() => void)[] = [];
    // As on a closed network whose resolver never answers: every name lookup hangs until the test lets it go.
    (dns.promises as { lookup: unknown }).lookup = () =>
      new Promise((_resolve, reject) => {
        held.push(() => reject(Object.assign(new Error('no DNS here'), { code: 'ENOTFOUND' })));
      });
    // Mocked timers: a 0 ms wait comes due as the test ticks, werift's 5 s STUN wait never does.
    mock.timers.enable({ apis: ['setTimeout'] });
    const endpoint = new AudioEndpoint(
      createPeerFactory({ kind: 'configured', announceAddresses: ['127.0.0.1'], bindAddress: '127.0.0.1' }),
    );
    try {
      let sdp: string | null = null;
      void endpoint.createOffer().then((s) => {
        sdp = s;
      });
      for (let turn = 0; turn < 100 && sdp === null; turn++) {
        mock.timers.tick(1);
        await new Promise((resolve) => setImmediate(resolve));
      }
      for (let turn = 0; turn < 100; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      // Unpatched, werift asks a public STUN server of its own choosing for every peer.
      assert.equal(held.length, 0, 'werift looked up a STUN server nobody configured');
      assert.match(sdp ?? '', /typ host/, 'the SDP came, with its host candidate');
      assert.doesNotMatch(sdp ?? '', /typ srflx/);
    } finally {
      mock.timers.reset();
      (dns.promises as { lookup: unknown }).lookup = realLookup;
      for (const release of held) {
        release();
      }
      await endpoint.close();
    }
  });
});
