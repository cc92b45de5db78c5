// Realtime clients misbehaving against a real server process: a socket that dies without a close frame (a client
// host gone, a proxy cut), and a client that stops reading. The call must go on and the process stay healthy; a
// used token stays used; a client that never reads cannot hold the process's shutdown.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import type { CallId } from '../../src/ids.ts';
import { eventually } from '../helpers/build-test-app.ts';
import { answeredCall, sandboxNumber, startMediaServer } from '../helpers/sandbox-process.ts';
import type { ServerProcess } from '../helpers/server-process.ts';
import { listEventsForCall } from '../helpers/store-reads.ts';
import { createTestStore, storeKinds } from '../helpers/stores.ts';
import { dominant, sine } from '../helpers/tone.ts';

interface Client {
  ws: WebSocket;
  /** The last second of the caller's audio this client got (16 kHz). */
  lastSecond(): Int16Array;
  frames: number;
}

async function pcm16Client(wsUrl: string): Promise<Client> {
  const ws = new WebSocket(`${wsUrl}&format=pcm16`);
  const recent: Int16Array[] = [];
  const client: Client = {
    ws,
    frames: 0,
    lastSecond: () => {
      const out = new Int16Array(recent.length * 320);
      recent.forEach((f, i) => {
        out.set(f, i * 320);
      });
      return out;
    },
  };
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) {
      client.frames++;
      recent.push(new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)));
      if (recent.length > 50) {
        recent.shift();
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return client;
}

const hears = (client: Client, freq: number) =>
  eventually(
    async () => client.frames >= 50 && dominant(client.lastSecond(), 16_000, [440, 660, 880]) === freq,
    10_000,
    `the client to hear ${freq} Hz`,
  );

/** The status an upgrade with this URL gets, or 101 for a socket. */
function upgradeStatus(url: string): Promise<number> {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
  });
}

async function metric(server: ServerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

for (const kind of storeKinds()) {
  test(`a realtime socket destroyed mid-call (no close frame): the call goes on, its token stays used, a new session works (${kind})`, async () => {
    const store = await createTestStore(kind);
    const { server, recordings } = await startMediaServer(store);
    try {
      const api = await sandboxNumber(store, server);
      const callId = await answeredCall(api, '+15550000001');
      const session = await api('POST', `/v1/calls/${callId}/realtime-session`, { mode: 'talk' });
      assert.equal(session.status, 200, JSON.stringify(session.body));
      const first = await pcm16Client(session.body.wsUrl);
      await hears(first, 440);

      // Three seconds of 880 Hz queued for the caller, then the client's connection is cut: no close frame.
      const talk = sine(880, 16_000, 3);
      for (let at = 0; at < talk.length; at += 320) {
        first.ws.send(Buffer.from(talk.buffer, talk.byteOffset + at * 2, 640));
      }
      await eventually(async () => (await metric(server, 'callgate_media_realtime_sockets')) === 1, 5000, 'counted');
      // ws keeps its TCP socket as _socket: destroying it sends no close frame, as a vanished client sends none.
      (first.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();

      // What it queued still plays (docs/media-engine.md), and the socket is forgotten.
      await eventually(
        async () => (await api('GET', `/v1/sandbox/calls/${callId}`)).body.heard.frequencyHz === 880,
        10_000,
        'the caller to hear the queued 880 Hz',
      );
      await eventually(async () => (await metric(server, 'callgate_media_realtime_sockets')) === 0, 10_000, 'gone');
      assert.equal((await api('GET', `/v1/calls/${callId}`)).body.status, 'ACCEPTED');

      // Reconnecting with the used token: a 401, not a socket.
      assert.equal(await upgradeStatus(`${session.body.wsUrl}&format=pcm16`), 401);
      // A new session hears the caller again.
      const again = await api('POST', `/v1/calls/${callId}/realtime-session`, { mode: 'listen' });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      const second = await pcm16Client(again.body.wsUrl);
      await hears(second, 440);

      const closed = new Promise<number>((resolve) => second.ws.once('close', (code) => resolve(code)));
      assert.equal((await api('POST', `/v1/calls/${callId}/terminate`)).status, 200);
      assert.equal(await closed, 1000);
      const ended = await eventually(
        async () => (await listEventsForCall(store.db, callId as CallId)).filter((e) => e.type === 'call.ended'),
        10_000,
        'call.ended',
      );
      assert.equal(ended.length, 1);
      assert.equal(
        server.logs.filter((l) => l.includes('"level":50')).length,
        0,
        `no error logged:\n${server.logs.join('\n')}`,
      );
    } finally {
      await server.stop('SIGKILL');
      await store.dispose();
      rmSync(recordings, { recursive: true, force: true });
    }
  });
}

test('a realtime client that stops reading cannot hold the shutdown: SIGTERM still exits 0, within the grace', async () => {
  const store = await createTestStore('sqlite');
  const { server, recordings } = await startMediaServer(store);
  let stuck: WebSocket | null = null;
  try {
    const api = await sandboxNumber(store, server);
    const callId = await answeredCall(api, '+15550000002');
    const session = await api('POST', `/v1/calls/${callId}/realtime-session`, { mode: 'listen' });
    assert.equal(session.status, 200, JSON.stringify(session.body));
    const client = await pcm16Client(session.body.wsUrl);
    await hears(client, 440);
    stuck = client.ws;
    // From now on nothing is read: the server's close frame never gets an answer.
    client.ws.pause();

    const code = await server.stop('SIGTERM');
    assert.equal(code, 0, server.logs.slice(-5).join('\n'));
    assert.ok(!server.logs.some((l) => l.includes('shutdown did not finish in time')), server.logs.join('\n'));
  } finally {
    stuck?.terminate();
    await server.stop('SIGKILL');
    await store.dispose();
    rmSync(recordings, { recursive: true, force: true });
  }
});
