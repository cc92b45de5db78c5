// `play` of a mediaUrl whose server misbehaves, against a real server process: a body that stalls half way, a file
// cut after its header, a Content-Length no file has, a corrupt MP3. Each is a 400 with its reason; the call goes on,
// files queued behind a stalled one play once it is given up, and the process's output stays its JSON log.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { tone } from '../../src/media/audio/tone.ts';
import { eventually } from '../helpers/build-test-app.ts';
import { answeredCall, sandboxNumber, startMediaServer } from '../helpers/sandbox-process.ts';
import { createTestStore } from '../helpers/stores.ts';
import { wavFile } from '../helpers/wav.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/media');

test('play of a stalled, cut, oversized or corrupt file: a 400 each with its reason; the queue behind goes on', async () => {
  const wav = wavFile([tone(660, 2, 16_000)], 16_000);
  const mp3 = readFileSync(join(FIXTURES, 'tone-660-stereo.mp3'));
  const corrupt = Buffer.concat([mp3.subarray(0, 2000), Buffer.alloc(256 * 1024)]);
  for (let i = 2000; i < corrupt.length; i++) {
    corrupt[i] = (i * 7919 + (i >> 7)) & 255;
  }
  const stalled: ServerResponse[] = [];
  const media = createServer((req, res) => {
    if (req.url === '/stall.wav') {
      // Headers and a first part of the body, then nothing: the download is given up at its time limit.
      res.writeHead(200, { 'content-length': String(wav.length) });
      res.write(wav.subarray(0, 4096));
      stalled.push(res);
    } else if (req.url === '/tone.wav') {
      res.end(wav);
    } else if (req.url === '/cut.wav') {
      res.end(wav.subarray(0, 44));
    } else if (req.url === '/huge.wav') {
      res.writeHead(200, { 'content-length': String(1024 ** 4) });
      res.write(wav.subarray(0, 4096));
      stalled.push(res);
    } else if (req.url === '/corrupt.mp3') {
      res.end(corrupt);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => media.listen(0, '127.0.0.1', r));
  const url = (name: string) => `http://127.0.0.1:${(media.address() as AddressInfo).port}/${name}`;

  const store = await createTestStore('sqlite');
  // The media server is on loopback.
  const { server, recordings } = await startMediaServer(store, { WEBHOOK_ALLOW_INSECURE_URLS: 'true' });
  try {
    const api = await sandboxNumber(store, server);
    const callId = await answeredCall(api, '+15550000003');
    const play = (name: string) => api('POST', `/v1/calls/${callId}/play`, { mediaUrl: url(name) });
    const heard = async () => (await api('GET', `/v1/sandbox/calls/${callId}`)).body.heard.frequencyHz;

    // A stalled file first, a good one behind it: the good one is decoded (200) but waits its turn.
    const stalledPlay = play('stall.wav');
    await eventually(async () => stalled.length === 1, 5000, 'the stalled download');
    assert.equal((await play('tone.wav')).status, 200);
    assert.notEqual(await heard(), 660, 'played in request order: not before the stalled file is given up');
    const gaveUp = await stalledPlay;
    assert.equal(gaveUp.status, 400, JSON.stringify(gaveUp.body));
    assert.equal(gaveUp.body.code, 'VALIDATION_ERROR');
    assert.match(gaveUp.body.details.reason, /did not answer within/);
    await eventually(async () => (await heard()) === 660, 10_000, 'the file queued behind it to play');

    const cut = await play('cut.wav');
    assert.equal(cut.status, 400, JSON.stringify(cut.body));
    assert.match(cut.body.details.reason, /no WAV audio/);
    const huge = await play('huge.wav');
    assert.equal(huge.status, 400, JSON.stringify(huge.body));
    assert.match(huge.body.details.reason, /larger than/);
    // Whatever a corrupt MP3 decodes to, the decoder's complaints do not reach the process's output.
    assert.ok([200, 400].includes((await play('corrupt.mp3')).status));
    const notJson = server.logs.filter((l) => !l.startsWith('{'));
    assert.deepEqual(notJson, []);

    assert.equal((await api('GET', `/v1/calls/${callId}`)).body.status, 'ACCEPTED');
    assert.equal((await api('POST', `/v1/calls/${callId}/terminate`)).status, 200);
  } finally {
    for (const res of stalled) {
      res.destroy();
    }
    media.close();
    await server.stop('SIGKILL');
    await store.dispose();
    rmSync(recordings, { recursive: true, force: true });
  }
});
