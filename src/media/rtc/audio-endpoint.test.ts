import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { AudioEndpoint } from './audio-endpoint.ts';
import { createPeerFactory, LOOPBACK_ICE } from './peer-factory.ts';
import { EchoSource, toneSource } from './sources.ts';

const factory = createPeerFactory(LOOPBACK_ICE);

function candidateAddresses(sdp: string): string[] {
  return [...sdp.matchAll(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ/gm)].map((m) => m[1] ?? '');
}

describe('audio endpoint', () => {
  const endpoints: AudioEndpoint[] = [];
  after(async () => {
    await Promise.all(endpoints.map((e) => e.close()));
  });

  it('carries a tone each way between two peers on loopback', async () => {
    const caller = new AudioEndpoint(factory, { source: toneSource(440) });
    const callee = new AudioEndpoint(factory, { source: toneSource(880) });
    endpoints.push(caller, callee);

    const offer = await caller.createOffer();
    assert.match(offer, /a=rtpmap:\d+ opus\/48000\/2/);
    assert.deepEqual(candidateAddresses(offer), ['127.0.0.1']);
    const answer = await callee.acceptOffer(offer);
    assert.deepEqual(candidateAddresses(answer), ['127.0.0.1']);
    await caller.applyAnswer(answer);
    await Promise.all([caller.connected(), callee.connected()]);

    const calleeHeard = await waitFor(
      () => callee.heard(),
      (h) => h.frequencyHz === 440,
    );
    const callerHeard = await waitFor(
      () => caller.heard(),
      (h) => h.frequencyHz === 880,
    );
    assert.equal(calleeHeard.frequencyHz, 440);
    assert.equal(callerHeard.frequencyHz, 880);
    assert.ok(caller.stats().framesSent > 0);
    assert.ok(callee.stats().packetsReceived > 0);
  });

  it('echoes back what the far end says, and sends silence while muted', async () => {
    const user = new AudioEndpoint(factory, { source: toneSource(660) });
    const echo = new AudioEndpoint(factory, { source: new EchoSource() });
    endpoints.push(user, echo);
    await user.applyAnswer(await echo.acceptOffer(await user.createOffer()));
    await user.connected();

    const heard = await waitFor(
      () => user.heard(),
      (h) => h.frequencyHz === 660,
    );
    assert.equal(heard.frequencyHz, 660);

    user.setMuted(true);
    const quiet = await waitFor(
      () => echo.heard(),
      (h) => h.frequencyHz === null,
    );
    assert.equal(quiet.frequencyHz, null);
    // The RTP clock keeps running while muted: frames are still sent.
    const sent = user.stats().framesSent;
    await sleep(200);
    assert.ok(user.stats().framesSent > sent);
  });

  it('reports closed and stops sending once closed', async () => {
    const a = new AudioEndpoint(factory, { source: toneSource(300) });
    const b = new AudioEndpoint(factory);
    endpoints.push(b);
    await a.applyAnswer(await b.acceptOffer(await a.createOffer()));
    await Promise.all([a.connected(), b.connected()]);
    await a.close();
    assert.equal(a.state, 'closed');
    const sent = a.stats().framesSent;
    await sleep(100);
    assert.equal(a.stats().framesSent, sent);
  });
});
