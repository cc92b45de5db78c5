// The CLI on a server-media call: `calls listen` writes the caller's 440 Hz to a WAV, `calls play` and
// `calls stop-play` drive what the caller hears. A werift peer plays the WhatsApp user on 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestApp, eventually, type TestApp } from '../../test/helpers/build-test-app.ts';
import { nextPeer, storedCall } from '../../test/helpers/calls.ts';
import { runCli } from '../../test/helpers/cli-process.ts';
import { wavFile } from '../../test/helpers/wav.ts';
import { dominantFrequency } from '../media/audio/detect.ts';
import { tone } from '../media/audio/tone.ts';
import { readWav } from '../media/audio/wav.ts';
import { AudioEndpoint, createPeerFactory, LOOPBACK_ICE, toneSource } from '../media/rtc/index.ts';

let t: TestApp;
let files: Server;
let fileUrl = '';
let user: AudioEndpoint;
let callId = '';
const dir = mkdtempSync(join(tmpdir(), 'callgate-cli-media-'));

before(async () => {
  t = await buildTestApp('sqlite', { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
  files = createServer((_req, res) => res.end(wavFile([tone(660, 10, 16_000)], 16_000)));
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  fileUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}/tone.wav`;
  user = new AudioEndpoint(createPeerFactory(LOOPBACK_ICE), { source: toneSource(440) });
  const wacid = await t.fake.incomingCall({
    phoneNumberId: t.numberA.phoneNumberId,
    from: nextPeer(),
    sdp: await user.createOffer(),
  });
  const call = await eventually(() => storedCall(t, t.numberA, wacid), 3000, 'the call');
  callId = call.id;
  // Answered as a first bot's developer would: `calls accept` sends no SDP, so callgate holds the audio.
  const accepted = await runCli(['calls', 'accept', call.id], env());
  assert.equal(accepted.code, 0, accepted.stderr);
  assert.equal(accepted.stdout, `${call.id} ACCEPTED\n`);
  assert.match(accepted.stderr, new RegExp(`^callgate holds its audio: callgate calls listen ${call.id} `));
  const sent = t.fake.requests.find((r) => r.body?.call_id === wacid && r.body?.action === 'accept');
  await user.applyAnswer(sent?.body.session.sdp);
  await user.connected();
});
after(async () => {
  await user.close();
  files.close();
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ CALLGATE_URL: t.baseUrl, CALLGATE_API_KEY: t.numberA.key.key });

test('calls get says who holds the call’s media', async () => {
  const run = await runCli(['calls', 'get', callId], env());
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^media: +server$/m);
});

test('calls listen --seconds 2 writes the caller’s 440 Hz to a 16 kHz WAV and prints the keys pressed', async () => {
  const out = join(dir, 'caller.wav');
  const running = runCli(['calls', 'listen', callId, '--out', out, '--seconds', '2'], env());
  // The caller presses a key once the socket is up (callgate's socket count says so).
  await eventually(async () => t.app.realtime.tally.open > 0, 5000, 'the listen socket');
  assert.equal(user.sendDigits('7#'), true);
  const run = await running;
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^Key pressed: 7\nKey pressed: #\nWrote \d\.\d s of the caller's audio/);
  const wav = readWav(readFileSync(out));
  assert.equal(wav.sampleRate, 16_000);
  const seconds = wav.samples.length / 16_000;
  assert.ok(seconds > 1.5 && seconds <= 2.1, `seconds ${seconds}`);
  assert.equal(dominantFrequency(wav.samples.subarray(3200), 16_000), 440);
});

test('calls play makes the caller hear the file; calls stop-play stops it; a bad call id is an error', async () => {
  const play = await runCli(['calls', 'play', callId, fileUrl], env());
  assert.equal(play.code, 0, play.stderr);
  await eventually(async () => user.heard().frequencyHz === 660, 8000, 'the caller to hear 660 Hz');
  const stop = await runCli(['calls', 'stop-play', callId], env());
  assert.equal(stop.code, 0, stop.stderr);
  await eventually(async () => user.heard().frequencyHz === null, 8000, 'silence');
  // --stop-on-key: the caller's key stops the prompt.
  const prompt = await runCli(['calls', 'play', callId, fileUrl, '--stop-on-key'], env());
  assert.equal(prompt.code, 0, prompt.stderr);
  assert.equal(prompt.stdout, `${callId} playing ${fileUrl} until a key is pressed\n`);
  await eventually(async () => user.heard().frequencyHz === 660, 8000, 'the caller to hear 660 Hz again');
  assert.equal(user.sendDigits('1'), true);
  await eventually(async () => user.heard().frequencyHz === null, 8000, 'silence after the key');
  const bad = await runCli(['calls', 'play', 'call_nope', fileUrl], env());
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /CALL_NOT_FOUND|Call not found/);
  await sleep(10);
});

test('calls recording downloads a recorded call’s Ogg file; delete-recording removes it', async () => {
  const caller = new AudioEndpoint(createPeerFactory(LOOPBACK_ICE), { source: toneSource(440) });
  try {
    const wacid = await t.fake.incomingCall({
      phoneNumberId: t.numberA.phoneNumberId,
      from: nextPeer(),
      sdp: await caller.createOffer(),
    });
    const call = await eventually(() => storedCall(t, t.numberA, wacid), 3000, 'the call');
    const accepted = await runCli(['calls', 'accept', call.id, '--record'], env());
    assert.equal(accepted.code, 0, accepted.stderr);
    const sent = t.fake.requests.find((r) => r.body?.call_id === wacid && r.body?.action === 'accept');
    await caller.applyAnswer(sent?.body.session.sdp);
    await caller.connected();
    await sleep(1_000);
    assert.equal((await runCli(['calls', 'terminate', call.id], env())).code, 0);
    const recording = await eventually(
      async () => {
        const r = (
          await t.app.inject({ url: `/v1/calls/${call.id}`, headers: { 'x-api-key': t.numberA.key.key } })
        ).json().recording;
        return r?.status === 'ready' && r;
      },
      8000,
      'the recording',
    );

    const out = join(dir, 'call.ogg');
    const run = await runCli(['calls', 'recording', call.id, '--out', out], env());
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${call.id} recording written to ${out} (${recording.sizeBytes} bytes)\n`);
    const file = readFileSync(out);
    assert.equal(file.length, recording.sizeBytes);
    assert.equal(file.subarray(0, 4).toString('latin1'), 'OggS');

    const deleted = await runCli(['calls', 'delete-recording', call.id], env());
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `${call.id} recording deleted\n`);
    const gone = await runCli(['calls', 'recording', call.id, '--out', join(dir, 'again.ogg')], env());
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /RECORDING_NOT_FOUND/);
  } finally {
    await caller.close();
  }
});
