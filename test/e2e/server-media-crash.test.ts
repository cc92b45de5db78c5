// A process that answered a call with its own media is killed (SIGKILL) after its answer reached Meta and before
// Meta's reply: the call may be live at WhatsApp, and only the store says which process held its media. That row
// is made durable before the answer leaves, so another process finds the dead node and ends the call. And a process
// killed with calls up, recorded, a realtime client on each: the others end every call once, as docs/media-engine.md
// says, and the recordings it left unfinished end failed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { AudioEndpoint } from '../../src/media/rtc/index.ts';
import { findCallMediaForNumber } from '../../src/store/call-media.ts';
import { buildTestApp, eventually } from '../helpers/build-test-app.ts';
import { outbox, untilStatus } from '../helpers/calls.ts';
import { missing } from '../helpers/requirements.ts';
import { connectUser, startCall } from '../helpers/server-media.ts';
import { startServerProcess } from '../helpers/server-process.ts';

describe('server media: the process holding the media killed (SIGKILL)', {
  skip: missing('postgres'),
}, () => {
  test('while Meta holds its accept: another process ends the call FAILED by SYSTEM with media_lost, tells Meta once, one call.ended', async () => {
    const endpoints: AudioEndpoint[] = [];
    const dataDir = mkdtempSync(join(tmpdir(), 'callgate-crash-'));
    const t = await buildTestApp('postgres');
    const child = await startServerProcess({
      ...t.store.env,
      DATA_DIR: dataDir,
      META_GRAPH_BASE_URL: t.fake.baseUrl,
      MEDIA_PUBLIC_IP: '127.0.0.1',
      // The session on a media worker thread: a SIGKILL takes the threads with the process.
      MEDIA_WORKERS: '1',
      PROVIDER_TIMEOUT_MS: '30000',
    });
    try {
      const uc = await startCall(t, endpoints);
      t.fake.inject({ action: 'accept', hang: true, times: 1 });
      const accepting = fetch(`${child.url}/v1/calls/${uc.call.id}/accept`, {
        method: 'POST',
        headers: { 'x-api-key': t.numberA.key.key, 'content-type': 'application/json' },
        body: '{}',
      }).catch(() => null);
      await eventually(
        async () => t.fake.countRequests({ action: 'accept', call_id: uc.call.externalCallId }) === 1,
        5000,
        'the answer to reach Meta',
      );
      const held = await findCallMediaForNumber(t.store.db, t.numberA.id, uc.call.id);
      assert.ok(held?.mediaNode, 'the store names the answering process before Meta has the answer');
      assert.notEqual(held.mediaNode, t.app.media.node);
      await child.stop('SIGKILL');
      assert.equal(await accepting, null, 'the accept never answered');

      const ended = await untilStatus(t, t.numberA, uc.call.id, 'FAILED', 25_000);
      assert.equal(ended.endedBy, 'SYSTEM');
      assert.equal(ended.endReason, 'media_lost');
      await sleep(2500);
      assert.equal(t.fake.countRequests({ action: 'terminate', call_id: uc.call.externalCallId }), 1);
      assert.equal((await outbox(t, uc.call)).filter((e) => e.type === 'call.ended').length, 1);
    } finally {
      await child.stop('SIGKILL');
      await Promise.all(endpoints.map((e) => e.close()));
      await t.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
  test('killed with two answered calls, recorded, a realtime client on each: each ends media_lost once, sockets close', async () => {
    const endpoints: AudioEndpoint[] = [];
    const dataDir = mkdtempSync(join(tmpdir(), 'callgate-crash-'));
    const t = await buildTestApp('postgres');
    const child = await startServerProcess({
      ...t.store.env,
      DATA_DIR: dataDir,
      META_GRAPH_BASE_URL: t.fake.baseUrl,
      MEDIA_PUBLIC_IP: '127.0.0.1',
      MEDIA_WARMUP: 'off',
    });
    const sockets: WebSocket[] = [];
    try {
      const calls = [];
      for (let i = 0; i < 2; i++) {
        const uc = await startCall(t, endpoints);
        const accepted = await fetch(`${child.url}/v1/calls/${uc.call.id}/accept`, {
          method: 'POST',
          headers: { 'x-api-key': t.numberA.key.key, 'content-type': 'application/json' },
          body: JSON.stringify({ record: true }),
        });
        assert.equal(accepted.status, 200, await accepted.text());
        await connectUser(t, uc);
        const session = await fetch(`${child.url}/v1/calls/${uc.call.id}/realtime-session`, {
          method: 'POST',
          headers: { 'x-api-key': t.numberA.key.key, 'content-type': 'application/json' },
          body: JSON.stringify({ mode: 'listen' }),
        });
        assert.equal(session.status, 200);
        const ws = new WebSocket(((await session.json()) as { wsUrl: string }).wsUrl);
        sockets.push(ws);
        let media = 0;
        ws.on('message', (data) => {
          media += String(data).includes('"event":"media"') ? 1 : 0;
        });
        await eventually(async () => media >= 10, 10_000, 'the caller’s audio at the client');
        calls.push(uc.call);
      }
      const closed = sockets.map((ws) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code))));
      await child.stop('SIGKILL');
      // The kernel closes a killed process's connections: the clients see the socket go (1006, no close frame).
      assert.deepEqual(await Promise.all(closed), [1006, 1006]);

      for (const call of calls) {
        const ended = await untilStatus(t, t.numberA, call.id, 'FAILED', 25_000);
        assert.equal(ended.endedBy, 'SYSTEM');
        assert.equal(ended.endReason, 'media_lost');
      }
      // The recordings the dead process left unfinished end failed, once, 10 s after their calls did.
      for (const call of calls) {
        await eventually(
          async () => (await outbox(t, call)).some((e) => e.type === 'call.recording_ready'),
          25_000,
          'call.recording_ready',
        );
      }
      await sleep(2500);
      for (const call of calls) {
        const types = (await outbox(t, call)).map((e) => e.type);
        assert.equal(types.filter((e) => e === 'call.ended').length, 1, types.join());
        assert.equal(types.filter((e) => e === 'call.recording_ready').length, 1, types.join());
        const got = await t.app.inject({ url: `/v1/calls/${call.id}`, headers: { 'x-api-key': t.numberA.key.key } });
        assert.equal(got.json().recording.status, 'failed');
        assert.equal(t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }), 1);
      }
    } finally {
      for (const ws of sockets) {
        ws.terminate();
      }
      await child.stop('SIGKILL');
      await Promise.all(endpoints.map((e) => e.close()));
      await t.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
  test('a command forwarded to the killed owner answers in seconds, not after the 20 s forwarding timeout', async () => {
    const endpoints: AudioEndpoint[] = [];
    const dataDir = mkdtempSync(join(tmpdir(), 'callgate-crash-'));
    const t = await buildTestApp('postgres');
    const child = await startServerProcess({
      ...t.store.env,
      DATA_DIR: dataDir,
      META_GRAPH_BASE_URL: t.fake.baseUrl,
      MEDIA_PUBLIC_IP: '127.0.0.1',
      MEDIA_WORKERS: '1',
    });
    try {
      const uc = await startCall(t, endpoints);
      const accepted = await fetch(`${child.url}/v1/calls/${uc.call.id}/accept`, {
        method: 'POST',
        headers: { 'x-api-key': t.numberA.key.key, 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(accepted.status, 200, await accepted.text());
      const held = await findCallMediaForNumber(t.store.db, t.numberA.id, uc.call.id);
      assert.ok(held?.mediaNode && held.mediaNode !== t.app.media.node, 'the child holds the media');
      await child.stop('SIGKILL');

      // Its heartbeat is still fresh: the sweep would not end the call for up to 10 s.
      const started = performance.now();
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${uc.call.id}/realtime-session`,
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { mode: 'listen' },
      });
      const ms = performance.now() - started;
      assert.ok([503, 409].includes(res.statusCode), res.body);
      assert.ok(ms < 12_000, `answered in ${Math.round(ms)} ms`);
    } finally {
      await child.stop('SIGKILL');
      await Promise.all(endpoints.map((e) => e.close()));
      await t.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
