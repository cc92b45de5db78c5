import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { dominantFrequency } from '../audio/detect.ts';
import { rmsLevel } from '../audio/pcm.ts';
import { AudioEndpoint } from './audio-endpoint.ts';
import { createPeerFactory, LOOPBACK_ICE } from './peer-factory.ts';
import { EchoSource, type PcmSource, silenceSource, toneSource } from './sources.ts';

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

  it('sends silence ready-made, without encoding it, and a tone after it arrives whole', async () => {
    let playing: PcmSource = silenceSource;
    const talker = new AudioEndpoint(factory, { source: { read: (n) => playing.read(n) } });
    const listener = new AudioEndpoint(factory);
    endpoints.push(talker, listener);
    await talker.applyAnswer(await listener.acceptOffer(await talker.createOffer()));
    await Promise.all([talker.connected(), listener.connected()]);
    await waitFor(
      () => listener.stats().packetsReceived,
      (n) => n >= 25,
    );
    assert.ok(talker.stats().framesEncoded <= 2, 'half a second of silence: two frames encoded at most, then none');
    assert.equal(listener.heard().frequencyHz, null);
    assert.equal(listener.heard().level, 0, 'the ready-made packet decodes to digital silence');

    const heard: Int16Array[] = [];
    listener.onAudio((pcm) => heard.push(pcm));
    playing = toneSource(660);
    await waitFor(
      () => listener.heard().frequencyHz,
      (f) => f === 660,
    );
    playing = silenceSource;
    await sleep(200);
    playing = toneSource(440);
    await waitFor(
      () => listener.heard().frequencyHz,
      (f) => f === 440,
    );
    await sleep(300);
    const sent = talker.stats();
    assert.ok(sent.framesEncoded > 0 && sent.framesEncoded < sent.framesSent - 25, JSON.stringify(sent));
    // After each silence the tone comes through whole: every recent frame carries it at full level.
    const loud = heard.slice(-10);
    for (const frame of loud) {
      assert.equal(dominantFrequency(frame, 48_000), 440);
      assert.ok(rmsLevel(frame) > 0.2, `level ${rmsLevel(frame)}`);
    }
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
  it('tells listeners the frames of the sender’s clock it never heard, and drops a packet that comes too late', async () => {
    const paced: { tick: ((index: number) => void) | null } = { tick: null };
    const sender = new AudioEndpoint(factory, {
      source: toneSource(440),
      clock: {
        start(fn) {
          paced.tick = fn;
          return () => {
            paced.tick = null;
          };
        },
      },
    });
    const receiver = new AudioEndpoint(factory, { monitor: false });
    endpoints.push(sender, receiver);
    const heard: { samples: number; missed: number }[] = [];
    receiver.onAudio((pcm, _rate, missed) => heard.push({ samples: pcm.length, missed }), 16_000);
    await sender.applyAnswer(await receiver.acceptOffer(await sender.createOffer()));
    await Promise.all([sender.connected(), receiver.connected()]);
    await waitFor(
      () => paced.tick,
      (t) => t !== null,
    );
    // Frames 0–19, then 30–39 (the sender skipped 10: lost, as far as the receiver can tell), then 25, too late.
    for (const index of [...Array(20).keys(), ...Array.from({ length: 10 }, (_, i) => 30 + i), 25]) {
      paced.tick?.(index);
      await sleep(5);
    }
    await waitFor(
      () => heard.length,
      (n) => n >= 30,
    );
    await sleep(200);
    assert.equal(heard.length, 30, 'the late packet is not handed on');
    assert.ok(heard.every((h) => h.samples === 320));
    assert.deepEqual(
      heard.map((h) => h.missed).filter((m) => m > 0),
      [10],
    );
    assert.equal(heard[20]?.missed, 10, 'told with the first packet after the gap');
  });

  it('carries keypad digits as telephone events, each heard once, while audio keeps flowing around them', async () => {
    const caller = new AudioEndpoint(factory, { source: toneSource(440) });
    const business = new AudioEndpoint(factory);
    endpoints.push(caller, business);
    const offer = await caller.createOffer();
    assert.match(offer, /a=rtpmap:126 telephone-event\/8000/);
    const answer = await business.acceptOffer(offer);
    assert.match(answer, /a=rtpmap:126 telephone-event\/8000/, 'the answer takes the digits offered');
    await caller.applyAnswer(answer);
    await caller.connected();
    assert.equal(caller.dtmf, true);

    const digits: string[] = [];
    business.onDigit((d) => digits.push(d));
    await waitFor(
      () => business.heard(),
      (h) => h.frequencyHz === 440,
    );
    assert.equal(caller.sendDigits('1*9#'), true);
    await waitFor(
      () => digits.join(''),
      (d) => d.length >= 4,
    );
    await waitFor(
      () => caller.digitsPending,
      (n) => n === 0,
    );
    await sleep(100);
    assert.deepEqual(digits, ['1', '*', '9', '#']);
    const after = await waitFor(
      () => business.heard(),
      (h) => h.frequencyHz === 440,
    );
    assert.equal(after.frequencyHz, 440, 'the tone goes on after the digits');
  });

  it('a stall of the sender’s clock in the middle of a key does not make it two keys', async () => {
    const paced: { tick: ((index: number) => void) | null } = { tick: null };
    const caller = new AudioEndpoint(factory, {
      source: toneSource(440),
      clock: {
        start(fn) {
          paced.tick = fn;
          return () => {
            paced.tick = null;
          };
        },
      },
    });
    const business = new AudioEndpoint(factory);
    endpoints.push(caller, business);
    await caller.applyAnswer(await business.acceptOffer(await caller.createOffer()));
    await Promise.all([caller.connected(), business.connected()]);
    await waitFor(
      () => paced.tick,
      (t) => t !== null,
    );
    const digits: string[] = [];
    business.onDigit((d) => digits.push(d));
    for (let index = 0; index < 10; index++) {
      paced.tick?.(index);
      await sleep(5);
    }
    assert.equal(caller.sendDigits('7'), true);
    // Two frames of the key's tone, then the clock skips 20 frames (a stall), then the rest of the key and audio.
    for (const index of [10, 11, ...Array.from({ length: 20 }, (_, i) => 32 + i)]) {
      paced.tick?.(index);
      await sleep(5);
    }
    await waitFor(
      () => caller.digitsPending,
      (n) => n === 0,
    );
    await waitFor(
      () => digits.length,
      (n) => n >= 1,
    );
    await sleep(200);
    assert.deepEqual(digits, ['7'], 'one key, however late its last packets were sent');
  });

  it('sends no digits to a far end that did not negotiate telephone events', async () => {
    const caller = new AudioEndpoint(factory);
    const business = new AudioEndpoint(factory);
    endpoints.push(caller, business);
    const offer = (await caller.createOffer()).replace(/^a=(rtpmap|fmtp):126 .*\r\n/gm, '').replace(/ 126\r\n/, '\r\n');
    assert.doesNotMatch(offer, /telephone-event/);
    const answer = await business.acceptOffer(offer);
    assert.doesNotMatch(answer, /telephone-event/);
    assert.equal(business.dtmf, false);
    assert.equal(business.sendDigits('1'), false);
  });
});
