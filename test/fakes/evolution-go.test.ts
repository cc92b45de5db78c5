import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import type { Json } from '../helpers/json.ts';
import type { FakeEvoInstanceConfig, FakeEvolution, FakeEvolutionOptions } from './evolution-go.ts';
import { formatEvolutionTimestamp, GIN_404, startFakeEvolution } from './evolution-go.ts';

// ───────────── fixtures ─────────────

const OWN = '5511988887777';
const PEER = '5521977776666';
const INST: FakeEvoInstanceConfig = {
  id: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  name: 'vendas-sp',
  token: 'f3a1c0de-tok-main',
  ownNumber: OWN,
};
const STOCK: FakeEvoInstanceConfig = {
  id: '0b7f5c2a-0000-4000-8000-000000000002',
  name: 'stock',
  token: 'tok-stock',
  ownNumber: '5511911112222',
  extension: 'off',
};
const PROXY: FakeEvoInstanceConfig = {
  id: '0b7f5c2a-0000-4000-8000-000000000003',
  name: 'proxy',
  token: 'tok-proxy',
  ownNumber: '5511933334444',
  extension: 'disabled',
};

interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
  body: Json;
}

async function startReceiver() {
  const got: Received[] = [];
  const statuses: number[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      got.push({ headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/providers/evolution/webhook/num_1`;
  return {
    url,
    got,
    statuses,
    events: () => got.map((g) => g.body.event as string),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

type Ctx = { fake: FakeEvolution; rx: Awaited<ReturnType<typeof startReceiver>> };

async function withFake(
  opts: Partial<FakeEvolutionOptions>,
  body: (ctx: Ctx) => Promise<void>,
  instances?: FakeEvoInstanceConfig[],
): Promise<void> {
  const rx = await startReceiver();
  const list = (instances ?? [INST, STOCK, PROXY]).map((i) => ({ webhookUrl: rx.url, ...i }));
  const fake = await startFakeEvolution({ instances: list, webhookRetryIntervalMs: 10, ...opts });
  try {
    await body({ fake, rx });
  } finally {
    await fake.close();
    await rx.close();
  }
}

async function evo(
  fake: FakeEvolution,
  method: string,
  path: string,
  o: { body?: unknown; token?: string | null } = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = o.token === undefined ? INST.token : o.token;
  if (token !== null) {
    headers.apikey = token;
  }
  const res = await fetch(fake.baseUrl + path, {
    method,
    headers,
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
  const text = await res.text();
  let json: Json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* text reply */
  }
  return { status: res.status, text, json, headers: res.headers };
}

// ───────────── tests ─────────────

describe('fake Evolution Go: server shape', () => {
  test("unknown token is 401 not authorized; unknown route is gin's text 404", async () => {
    await withFake({}, async ({ fake }) => {
      const bad = await evo(fake, 'POST', '/call/reject', {
        token: 'nope',
        body: { callCreator: `${PEER}@s.whatsapp.net`, callId: 'X' },
      });
      assert.equal(bad.status, 401);
      assert.deepEqual(bad.json, { error: 'not authorized' });
      const missing = await evo(fake, 'GET', '/api/v1/nothing');
      assert.equal(missing.status, 404);
      assert.equal(missing.text, GIN_404);
      assert.match(missing.headers.get('content-type') ?? '', /^text\/plain/);
    });
  });

  test('extension off: only stock routes exist; extension routes answer the text 404', async () => {
    await withFake({}, async ({ fake }) => {
      for (const [method, path] of [
        ['POST', '/call/dial'],
        ['POST', '/call/hangup'],
        ['GET', '/call/active'],
        ['POST', '/call/stream-ticket'],
      ] as const) {
        const r = await evo(fake, method, path, {
          token: STOCK.token,
          body: method === 'POST' ? { callId: 'X', number: PEER } : undefined,
        });
        assert.equal(r.status, 404, path);
        assert.equal(r.text, GIN_404, path);
      }
      const reject = await evo(fake, 'POST', '/call/reject', {
        token: STOCK.token,
        body: { callCreator: `${PEER}@s.whatsapp.net`, callId: 'ANY' },
      });
      assert.equal(reject.status, 200);
      assert.deepEqual(reject.json, { message: 'success' });
    });
  });

  test('extension disabled: /call/active says enabled:false and actions get 409 calls are not active', async () => {
    await withFake({}, async ({ fake }) => {
      const active = await evo(fake, 'GET', '/call/active', { token: PROXY.token });
      assert.deepEqual(active.json, { enabled: false, state: 'blocked_by_proxy', calls: [] });
      const dial = await evo(fake, 'POST', '/call/dial', { token: PROXY.token, body: { number: PEER } });
      assert.equal(dial.status, 409);
      assert.match(dial.json.error, /^calls are not active/);
    });
  });

  test('instance connect stores webhook + subscribe; advanced-settings PUT replaces the object', async () => {
    await withFake({}, async ({ fake }) => {
      const c = await evo(fake, 'POST', '/instance/connect', {
        body: { webhookUrl: 'http://127.0.0.1:1/x', subscribe: ['CALL', 'MESSAGE'] },
      });
      assert.equal(c.status, 200);
      assert.equal(c.json.data.eventString, 'CALL,MESSAGE');
      assert.equal(fake.instance(INST.id).webhookUrl, 'http://127.0.0.1:1/x');
      const put = await evo(fake, 'PUT', `/instance/${INST.id}/advanced-settings`, {
        body: { rejectCall: true, msgRejectCall: 'busy' },
      });
      assert.equal(put.json.message, 'Advanced settings updated successfully');
      assert.deepEqual(put.json.settings, {
        alwaysOnline: false,
        rejectCall: true,
        msgRejectCall: 'busy',
        readMessages: false,
        ignoreGroups: false,
        ignoreStatus: false,
      });
      const other = await evo(fake, 'GET', `/instance/${STOCK.id}/advanced-settings`);
      assert.equal(other.status, 401);
    });
  });

  test('Timestamp is RFC 3339 in the configured offset', () => {
    const ms = Date.parse('2026-04-02T17:05:09.456Z');
    assert.equal(formatEvolutionTimestamp(ms, '-03:00'), '2026-04-02T14:05:09-03:00');
    assert.equal(formatEvolutionTimestamp(ms, 'Z'), '2026-04-02T17:05:09Z');
    assert.equal(formatEvolutionTimestamp(ms, '+05:30'), '2026-04-02T22:35:09+05:30');
  });
});

describe('fake Evolution Go: webhooks', () => {
  test('incoming call emits CallOffer then CallRelayLatency in the stock envelope, without any auth header', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const callId = await fake.incomingCall({ from: PEER, lid: '187654321098765' });
      assert.match(callId, /^[0-9A-F]{32}$/);
      assert.deepEqual(rx.events(), ['CallOffer', 'CallRelayLatency']);
      const offer = rx.got[0]!;
      assert.deepEqual(Object.keys(offer.body), ['event', 'data', 'instanceToken', 'instanceId', 'instanceName']);
      assert.equal(offer.body.instanceToken, INST.token);
      assert.equal(offer.body.instanceId, INST.id);
      assert.equal(offer.body.instanceName, INST.name);
      const d = offer.body.data;
      assert.deepEqual(Object.keys(d), [
        'From',
        'Timestamp',
        'CallCreator',
        'CallCreatorAlt',
        'CallID',
        'GroupJID',
        'RemotePlatform',
        'RemoteVersion',
        'Data',
      ]);
      assert.equal(d.CallCreator, `${PEER}:3@s.whatsapp.net`);
      assert.equal(d.CallCreatorAlt, '187654321098765@lid');
      assert.equal(d.CallID, callId);
      assert.equal(d.GroupJID, '');
      assert.match(d.Timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-03:00$/);
      assert.equal(d.Data.Tag, 'offer');
      assert.equal(d.Data.Attrs['call-id'], callId);
      assert.equal(offer.headers['content-type'], 'application/json');
      assert.equal(offer.headers.apikey, undefined);
      assert.equal(offer.headers['x-hub-signature-256'], undefined);
      assert.equal(offer.headers['x-webhook-secret'], undefined);
      assert.equal(fake.call(callId)?.phase, 'ringing');
    });
  });

  test('LID caller and video offer', async () => {
    await withFake({}, async ({ fake, rx }) => {
      await fake.incomingCall({ from: PEER, lid: '187654321098765', creatorIsLid: true, video: true, device: 0 });
      const d = rx.got[0]!.body.data;
      assert.equal(d.CallCreator, '187654321098765@lid');
      assert.equal(d.CallCreatorAlt, `${PEER}@s.whatsapp.net`);
      assert.ok(d.Data.Content.some((c: Json) => c.Tag === 'video'));
    });
  });

  test('group call is a CallOfferNotice only', async () => {
    await withFake({}, async ({ fake, rx }) => {
      await fake.incomingCall({ from: PEER, group: true });
      assert.deepEqual(rx.events(), ['CallOfferNotice']);
      assert.equal(rx.got[0]!.body.data.Type, 'group');
      assert.match(rx.got[0]!.body.data.GroupJID, /@g\.us$/);
    });
  });

  test('stock reject with the verbatim creator ends the ringing call: CallTerminate + CallEnded', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const callId = await fake.incomingCall({ from: PEER });
      const creator = rx.got[0]!.body.data.CallCreator;
      const r = await evo(fake, 'POST', '/call/reject', { body: { callCreator: creator, callId } });
      assert.deepEqual(r.json, { message: 'success' });
      await fake.flush();
      assert.deepEqual(rx.events(), ['CallOffer', 'CallRelayLatency', 'CallTerminate', 'CallEnded']);
      assert.equal(rx.got[2]!.body.data.Reason, 'rejected_elsewhere');
      assert.equal(rx.got[3]!.body.data.reason, 'rejected');
      assert.deepEqual(Object.keys(rx.got[3]!.body.data), [
        'callId',
        'peer',
        'direction',
        'video',
        'reason',
        'durationSeconds',
      ]);
      assert.equal(fake.call(callId)?.phase, 'ended');
      assert.deepEqual(fake.violations, []);
    });
  });

  test('stock reject with a bare number is 200 yet ineffective, and recorded as a violation', async () => {
    await withFake({}, async ({ fake }) => {
      const callId = await fake.incomingCall({ from: PEER });
      const r = await evo(fake, 'POST', '/call/reject', { body: { callCreator: PEER, callId } });
      assert.equal(r.status, 200);
      await fake.flush();
      assert.equal(fake.call(callId)?.phase, 'ringing');
      assert.equal(fake.call(callId)?.ignoredRejects, 1);
      assert.equal(fake.violations.length, 2);
    });
  });

  test('reject on a stock server (no extension): CallTerminate only, no CallEnded', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const callId = await fake.incomingCall({ instanceId: STOCK.id, from: PEER });
      await evo(fake, 'POST', '/call/reject', {
        token: STOCK.token,
        body: { callCreator: rx.got[0]!.body.data.CallCreator, callId },
      });
      await fake.flush();
      assert.deepEqual(rx.events(), ['CallOffer', 'CallRelayLatency', 'CallTerminate']);
    });
  });

  test('nobody answers: WhatsApp ring timeout → CallTerminate{timeout} (+CallEnded) on the injectable clock', async () => {
    const t0 = Date.parse('2026-04-02T17:05:00Z');
    await withFake({ now: () => t0 }, async ({ fake, rx }) => {
      const callId = await fake.incomingCall({ from: PEER });
      fake.advance(44_999);
      assert.equal(fake.call(callId)?.phase, 'ringing');
      fake.advance(1);
      await fake.flush();
      assert.deepEqual(rx.events().slice(2), ['CallTerminate', 'CallEnded']);
      assert.equal(rx.got[2]!.body.data.Reason, 'timeout');
      assert.equal(rx.got[3]!.body.data.reason, 'ring_timeout');
      assert.equal(rx.got[3]!.body.data.durationSeconds, 45);
    });
  });

  test('phone answers, then the peer hangs up', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const callId = await fake.incomingCall({ from: PEER });
      await fake.phoneAnswers(callId, { acceptedElsewhere: true });
      await fake.peerHangsUp(callId);
      assert.deepEqual(rx.events().slice(2), ['CallAccept', 'CallTerminate', 'CallTerminate', 'CallEnded']);
      assert.equal(rx.got[2]!.body.data.From, `${OWN}@s.whatsapp.net`);
      assert.equal(rx.got[3]!.body.data.Reason, 'accepted_elsewhere');
      assert.equal(rx.got[4]!.body.data.Reason, '');
      assert.equal(rx.got[4]!.body.data.Data.Attrs.reason, undefined);
      assert.equal(rx.got[5]!.body.data.reason, 'peer_hangup');
    });
  });

  test('rejectCall:true suppresses CallOffer, auto-rejects and "sends" msgRejectCall', async () => {
    await withFake({}, async ({ fake, rx }) => {
      fake.setRejectCall(INST.id, true, 'We only take calls on the web');
      await fake.incomingCall({ from: PEER });
      assert.deepEqual(rx.events(), ['CallTerminate', 'CallEnded']);
      assert.deepEqual(
        fake.instance(INST.id).sentMessages.map((m) => m.text),
        ['We only take calls on the web'],
      );
    });
  });

  test('no CALL subscription or no webhook URL: nothing is sent, deliveries say why', async () => {
    await withFake({}, async ({ fake, rx }) => {
      fake.setWebhook(INST.id, rx.url, []);
      await fake.incomingCall({ from: PEER });
      fake.setWebhook(INST.id, null);
      await fake.incomingCall({ from: PEER });
      assert.equal(rx.got.length, 0);
      assert.deepEqual([...new Set(fake.deliveries.map((d) => d.reason))], ['CALL not subscribed', 'no webhook URL']);
    });
  });

  test('retries up to 5 attempts on non-2xx, logging each', async () => {
    await withFake({ relayLatencyEvents: 0 }, async ({ fake, rx }) => {
      rx.statuses.push(500, 503);
      await fake.incomingCall({ from: PEER });
      await fake.flush();
      const offer = fake.deliveries.find((d) => d.event === 'CallOffer')!;
      assert.deepEqual(
        offer.attempts.map((a) => a.status),
        [500, 503, 200],
      );
      assert.equal(offer.state, 'delivered');
      rx.statuses.push(500, 500, 500, 500, 500);
      await fake.incomingCall({ from: PEER });
      await fake.flush();
      const failed = fake.deliveries.filter((d) => d.event === 'CallOffer')[1]!;
      assert.equal(failed.attempts.length, 5);
      assert.equal(failed.state, 'failed');
    });
  });

  test('duplicate, drop, stockOnly and hold/release (reversed) knobs', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const a = await fake.incomingCall({ from: PEER }, { duplicate: 1 });
      assert.deepEqual(rx.events(), ['CallOffer', 'CallOffer', 'CallRelayLatency', 'CallRelayLatency']);
      rx.got.length = 0;
      await fake.peerHangsUp(a, { stockOnly: true });
      assert.deepEqual(rx.events(), ['CallTerminate']);
      rx.got.length = 0;
      const b = await fake.incomingCall({ from: PEER }, { drop: true });
      assert.equal(rx.got.length, 0);
      assert.ok(fake.deliveries.some((d) => d.callId === b && d.state === 'dropped'));
      await fake.peerHangsUp(b, { hold: true });
      assert.equal(fake.heldCount(), 2);
      await fake.releaseHeld({ reverse: true });
      assert.deepEqual(rx.events(), ['CallEnded', 'CallTerminate']);
    });
  });
});

describe('fake Evolution Go: calls extension', () => {
  test('dial → peer accepts → CallAccept, CallReady → hangup → CallEnded{hangup}; CallInfo then 404', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const dial = await evo(fake, 'POST', '/call/dial', { body: { number: PEER } });
      assert.equal(dial.status, 200);
      assert.equal(dial.json.phase, 'calling');
      assert.equal(dial.json.direction, 'outgoing');
      assert.equal(dial.json.peer, `${PEER}@s.whatsapp.net`);
      const callId: string = dial.json.callId;
      assert.equal((await evo(fake, 'GET', `/call/${callId}`)).json.phase, 'calling');
      assert.equal((await evo(fake, 'GET', '/call/active')).json.calls.length, 1);
      await fake.peerAccepts(callId);
      fake.advance(200);
      await fake.flush();
      assert.equal(fake.call(callId)?.phase, 'active');
      assert.deepEqual(rx.events(), ['CallAccept', 'CallReady']);
      assert.equal(rx.got[0]!.body.data.CallCreator, `${OWN}@s.whatsapp.net`);
      const hang = await evo(fake, 'POST', '/call/hangup', { body: { callId } });
      assert.deepEqual(hang.json, { message: 'success' });
      await fake.flush();
      assert.equal(rx.got.at(-1)!.body.event, 'CallEnded');
      assert.equal(rx.got.at(-1)!.body.data.reason, 'hangup');
      const again = await evo(fake, 'POST', '/call/hangup', { body: { callId } });
      assert.equal(again.status, 404);
      assert.deepEqual(again.json, { error: 'call not found' });
      assert.equal((await evo(fake, 'GET', `/call/${callId}`)).status, 404);
    });
  });

  test('dial validates digits only (a + is a violation); limits give 429', async () => {
    await withFake({ maxConcurrentCalls: 10 }, async ({ fake }) => {
      const plus = await evo(fake, 'POST', '/call/dial', { body: { number: `+${PEER}` } });
      assert.equal(plus.status, 400);
      assert.equal(fake.violations.length, 1);
      for (let i = 0; i < 6; i++) {
        assert.equal((await evo(fake, 'POST', '/call/dial', { body: { number: PEER } })).status, 200);
      }
      const seventh = await evo(fake, 'POST', '/call/dial', { body: { number: PEER } });
      assert.equal(seventh.status, 429);
      assert.ok(Number(seventh.headers.get('retry-after')) > 0);
    });
    await withFake({ maxConcurrentCalls: 1 }, async ({ fake }) => {
      assert.equal((await evo(fake, 'POST', '/call/dial', { body: { number: PEER } })).status, 200);
      assert.equal((await evo(fake, 'POST', '/call/dial', { body: { number: PEER } })).status, 429);
    });
  });

  test('answer: only a ringing incoming call (409 otherwise, 404 JSON when unknown)', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const callId = await fake.incomingCall({ from: PEER });
      const creator = rx.got[0]!.body.data.CallCreator;
      assert.equal(
        (await evo(fake, 'POST', '/call/answer', { body: { callId: 'NOPE', callCreator: creator } })).status,
        404,
      );
      const ok = await evo(fake, 'POST', '/call/answer', { body: { callId, callCreator: creator } });
      assert.equal(ok.json.phase, 'connecting');
      const twice = await evo(fake, 'POST', '/call/answer', { body: { callId, callCreator: creator } });
      assert.equal(twice.status, 409);
      fake.advance(200);
      await fake.flush();
      assert.equal(rx.got.at(-1)!.body.event, 'CallReady');
      assert.equal(rx.got.at(-1)!.body.data.direction, 'incoming');
    });
  });

  test('hangup of a ringing incoming call is a reject', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const callId = await fake.incomingCall({ from: PEER });
      await evo(fake, 'POST', '/call/hangup', { body: { callId } });
      await fake.flush();
      assert.deepEqual(rx.events().slice(2), ['CallTerminate', 'CallEnded']);
      assert.equal(rx.got.at(-1)!.body.data.reason, 'rejected');
    });
  });

  test('play is queued before the call is active and validates the URL', async () => {
    await withFake({}, async ({ fake }) => {
      const callId = await fake.incomingCall({ from: PEER });
      assert.equal((await evo(fake, 'POST', '/call/play', { body: { callId, mediaUrl: 'ftp://x' } })).status, 400);
      assert.deepEqual(
        (await evo(fake, 'POST', '/call/play', { body: { callId, mediaUrl: 'https://cdn.example/greet.mp3' } })).json,
        { message: 'success', queued: true },
      );
      await evo(fake, 'POST', '/call/answer', { body: { callId } });
      fake.advance(200);
      assert.equal(
        (await evo(fake, 'POST', '/call/play', { body: { callId, mediaUrl: 'https://cdn.example/2.mp3' } })).json
          .queued,
        false,
      );
      assert.deepEqual(
        fake.call(callId)?.plays.map((p) => p.mediaUrl),
        ['https://cdn.example/greet.mp3', 'https://cdn.example/2.mp3'],
      );
    });
  });

  test('disconnect: stock texts as 500, tracked calls end instance_stopped, WhatsApp events stop', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const callId = await fake.incomingCall({ from: PEER });
      await fake.disconnect(INST.id, 'no active session found');
      assert.equal(rx.got.at(-1)!.body.data.reason, 'instance_stopped');
      const r = await evo(fake, 'POST', '/call/reject', { body: { callCreator: `${PEER}@s.whatsapp.net`, callId } });
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { error: 'no active session found' });
      const before = rx.got.length;
      await fake.incomingCall({ from: PEER });
      assert.equal(rx.got.length, before);
      assert.ok(fake.deliveries.some((d) => d.reason?.startsWith('instance disconnected')));
      fake.reconnect(INST.id);
      assert.equal((await evo(fake, 'POST', '/call/dial', { body: { number: PEER } })).status, 200);
    });
  });
});

describe('fake Evolution Go: failure injection and inspection', () => {
  test('status, text 404, latency, reset and hang', async () => {
    await withFake({}, async ({ fake }) => {
      fake.inject({ path: '/call/dial', status: 502, error: 'bad gateway' });
      assert.equal((await evo(fake, 'POST', '/call/dial', { body: { number: PEER } })).status, 502);
      fake.inject({ path: '/call/active', status: 404, text: GIN_404 });
      assert.equal((await evo(fake, 'GET', '/call/active')).text, GIN_404);
      fake.inject({ path: '/call/active', latencyMs: 50 });
      const t0 = performance.now();
      await evo(fake, 'GET', '/call/active');
      assert.ok(performance.now() - t0 >= 45);
      fake.inject({ path: '/call/active', reset: true });
      await assert.rejects(evo(fake, 'GET', '/call/active'));
      fake.inject({ path: '/call/active', hang: true });
      await assert.rejects(
        fetch(`${fake.baseUrl}/call/active`, { headers: { apikey: INST.token }, signal: AbortSignal.timeout(100) }),
      );
      assert.equal(fake.requests.at(-1)!.status, 0);
      assert.equal(fake.countRequests({ path: '/call/active' }), 4);
    });
  });

  test('hangup 500 that still ends the call (applyEffect); reject ignored (whatsmeow#1182)', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const dial = await evo(fake, 'POST', '/call/dial', { body: { number: PEER } });
      fake.inject({ path: '/call/hangup', status: 500, error: 'failed to terminate call', applyEffect: true });
      assert.equal((await evo(fake, 'POST', '/call/hangup', { body: { callId: dial.json.callId } })).status, 500);
      assert.equal(fake.call(dial.json.callId)?.phase, 'ended');
      assert.equal((await evo(fake, 'POST', '/call/hangup', { body: { callId: dial.json.callId } })).status, 404);

      const callId = await fake.incomingCall({ from: PEER });
      fake.inject({ path: '/call/reject', ignore: true });
      const r = await evo(fake, 'POST', '/call/reject', {
        body: { callCreator: rx.got.find((g) => g.body.event === 'CallOffer')!.body.data.CallCreator, callId },
      });
      assert.equal(r.status, 200);
      await fake.flush();
      assert.equal(fake.call(callId)?.phase, 'ringing');
      await fake.phoneAnswers(callId);
      assert.equal(rx.got.at(-1)!.body.event, 'CallAccept');
    });
  });

  test('request log redacts apikey; countRequests filters by callId', async () => {
    await withFake({}, async ({ fake }) => {
      await evo(fake, 'POST', '/call/reject', { body: { callCreator: `${PEER}@s.whatsapp.net`, callId: 'ABC' } });
      const r = fake.requests[0]!;
      assert.equal(r.headers.apikey, '[redacted]');
      assert.equal(r.instanceId, INST.id);
      assert.equal(r.route, '/call/reject');
      assert.equal(fake.countRequests({ callId: 'ABC', method: 'POST' }), 1);
      assert.equal(fake.countRequests({ callId: 'OTHER' }), 0);
    });
  });

  test('control over HTTP (/__fake/…) and reset', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const res = await fetch(`${fake.baseUrl}/__fake/incoming`, {
        method: 'POST',
        body: JSON.stringify({ instanceId: INST.id, from: PEER }),
      });
      const { callId } = (await res.json()) as { callId: string };
      assert.equal(rx.got[0]!.body.data.CallID, callId);
      const calls = (await (await fetch(`${fake.baseUrl}/__fake/calls`)).json()) as { callId: string }[];
      assert.deepEqual(
        calls.map((c) => c.callId),
        [callId],
      );
      assert.equal(fake.requests.length, 0); // control traffic is not logged
      await fetch(`${fake.baseUrl}/__fake/reset`, { method: 'POST' });
      assert.equal(fake.calls().length, 0);
      assert.equal(fake.deliveries.length, 0);
      // Same seed, same ids after a reset.
      assert.equal(await fake.incomingCall({ from: PEER }), callId);
    });
  });
});

describe('fake Evolution Go: realtime media', () => {
  async function answered(fake: FakeEvolution): Promise<string> {
    const callId = await fake.incomingCall({ from: PEER });
    await evo(fake, 'POST', '/call/answer', { body: { callId } });
    fake.advance(200);
    return callId;
  }

  async function ticket(fake: FakeEvolution, callId: string, mode: 'talk' | 'listen', binary = true) {
    const r = await evo(fake, 'POST', '/call/stream-ticket', { body: { callId, mode, binary } });
    assert.equal(r.status, 200);
    assert.equal(r.json.expiresInSeconds, 30);
    assert.equal(Buffer.from(r.json.ticket, 'base64url').length, 24);
    return r.json as { ticket: string; path: string };
  }

  function open(url: string): Promise<{ ws: WebSocket; frames: (ArrayBuffer | string)[]; closed: Promise<number> }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      const frames: (ArrayBuffer | string)[] = [];
      const closed = new Promise<number>((r) => ws.addEventListener('close', (e) => r(e.code)));
      ws.addEventListener('message', (e) => frames.push(e.data as ArrayBuffer | string));
      ws.addEventListener('open', () => resolve({ ws, frames, closed }));
      ws.addEventListener('error', () => reject(new Error('websocket refused')));
    });
  }

  test('binary talk stream: 1920-byte frames both ways; the ticket is single-use; call end closes it', async () => {
    await withFake({ mediaFrameMs: 10 }, async ({ fake }) => {
      const callId = await answered(fake);
      const t = await ticket(fake, callId, 'talk');
      assert.equal(t.path, `/call/stream/${callId}?ticket=${t.ticket}`);
      const wsUrl = fake.baseUrl.replace(/^http/, 'ws') + t.path;
      const { ws, frames, closed } = await open(wsUrl);
      ws.send(new Uint8Array(1920));
      await new Promise((r) => setTimeout(r, 60));
      assert.ok(frames.length >= 2);
      assert.ok(frames.every((f) => f instanceof ArrayBuffer && f.byteLength === 1920));
      await assert.rejects(open(wsUrl)); // spent
      await evo(fake, 'POST', '/call/hangup', { body: { callId } });
      assert.equal(await closed, 1000);
      const [s] = fake.streams(callId);
      assert.equal(s!.framesReceived, 1);
      assert.equal(s!.framesDropped, 0);
    });
  });

  test('listen mode drops client audio; a wrong-size frame closes the stream; JSON mode sends start/media', async () => {
    await withFake({ mediaFrameMs: 10 }, async ({ fake }) => {
      const callId = await answered(fake);
      const listen = await open(fake.baseUrl.replace(/^http/, 'ws') + (await ticket(fake, callId, 'listen')).path);
      listen.ws.send(new Uint8Array(1920));
      listen.ws.send(new Uint8Array(100));
      assert.equal(await listen.closed, 1007);
      const [s] = fake.streams(callId);
      assert.equal(s!.framesDropped, 1);

      const text = await open(fake.baseUrl.replace(/^http/, 'ws') + (await ticket(fake, callId, 'talk', false)).path);
      await new Promise((r) => setTimeout(r, 40));
      const first = JSON.parse(text.frames[0] as string);
      assert.deepEqual(first, { event: 'start', callId, sampleRate: 16000 });
      const media = JSON.parse(text.frames[1] as string);
      assert.equal(media.event, 'media');
      assert.equal(Buffer.from(media.payload, 'base64').length, 1920);
      await fake.peerHangsUp(callId);
      assert.equal(await text.closed, 1000);
      assert.deepEqual(JSON.parse(text.frames.at(-1) as string), { event: 'stop', reason: 'hangup' });
    });
  });
});
