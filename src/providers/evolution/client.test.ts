import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import pino from 'pino';
import type { FakeEvolution } from '../../../test/fakes/evolution-go.ts';
import { startFakeEvolution } from '../../../test/fakes/evolution-go.ts';
import type { CallId, NumberId, TenantId } from '../../ids.ts';
import type { Call } from '../../model/call.ts';
import type { NumberRecord } from '../../model/number.ts';
import type { EvolutionClientOptions, KnownCapability } from './client.ts';
import {
  EVOLUTION_NOT_SUPPORTED_MESSAGE,
  EvolutionProvider,
  evolutionCallCreatorOf,
  evolutionWsUrl,
} from './client.ts';

// ───────────── fixtures ─────────────

const OWN = '5511988887777';
const PEER = '5521977776666';
const MAIN = {
  id: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  name: 'vendas-sp',
  token: 'f3a1c0de-secret-token',
  ownNumber: OWN,
};
const STOCK = {
  id: '11111111-0000-4000-8000-000000000002',
  name: 'stock',
  token: 'tok-stock-secret',
  ownNumber: '5511911112222',
  extension: 'off' as const,
};
const PROXY = {
  id: '11111111-0000-4000-8000-000000000003',
  name: 'proxy',
  token: 'tok-proxy-secret',
  ownNumber: '5511933334444',
  extension: 'disabled' as const,
};

let fake: FakeEvolution;
let logLines: string[];

before(async () => {
  fake = await startFakeEvolution({ instances: [MAIN, STOCK, PROXY], webhookRetryIntervalMs: 5 });
});
after(() => fake.close());
beforeEach(() => {
  fake.reset();
  logLines = [];
});

const TOKENS: Record<string, string> = { [MAIN.id]: MAIN.token, [STOCK.id]: STOCK.token, [PROXY.id]: PROXY.token };

function numberFor(
  inst: { id: string; name: string },
  extra: Record<string, unknown> = {},
  baseUrl = fake.baseUrl,
): NumberRecord {
  return {
    id: `num_${inst.name}` as NumberId,
    tenantId: 'tenant_t' as TenantId,
    name: inst.name,
    phoneNumber: `+${OWN}`,
    provider: 'EVO_GO',
    metaPhoneNumberId: null,
    publicConfig: { baseUrl, instanceId: inst.id, instanceName: inst.name, publicWsBaseUrl: null, ...extra },
    secretConfig: 'sealed',
    createdAt: '2026-04-02T17:00:00.000Z',
    updatedAt: '2026-04-02T17:00:00.000Z',
  };
}

function callWith(externalCallId: string, providerData: unknown, patch: Partial<Call> = {}): Call {
  return {
    id: 'call_01TEST' as CallId,
    externalCallId,
    numberId: 'num_main' as NumberId,
    tenantId: 'tenant_t' as TenantId,
    direction: 'INBOUND',
    status: 'RINGING',
    peerNumber: PEER,
    peerUserId: null,
    peerLid: null,
    durationSeconds: null,
    startedAt: '2026-04-02T17:00:00.000Z',
    connectedAt: null,
    endedAt: null,
    endedBy: null,
    endReason: null,
    bizOpaqueCallbackData: null,
    sdpOffer: null,
    sdpAnswer: null,
    createdAt: '2026-04-02T17:00:00.000Z',
    updatedAt: '2026-04-02T17:00:00.000Z',
    maxDurationSeconds: null,
    // JSON text is not the declared type; the adapter tolerates it anyway.
    providerData: (providerData ?? null) as Call['providerData'],
    eventSeq: 0,
    pendingAction: null,
    ...patch,
  };
}

function provider(o: Partial<EvolutionClientOptions> = {}) {
  const learned: KnownCapability[] = [];
  const routes: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const p = new EvolutionProvider({
    timeoutMs: 1000,
    dialTimeoutMs: 2000,
    secretsOf: (n) => ({ instanceToken: TOKENS[String(n.publicConfig.instanceId)] ?? 'unknown-token' }),
    logger: pino({ level: 'debug' }, sink),
    onCapability: (_n, c) => learned.push(c),
    onRouteCapability: (_n, route, present) => routes.push(`${route} ${present ? 'present' : 'missing'}`),
    ...o,
  });
  return { p, learned, routes };
}

/** A ringing inbound call on the fake and our Call for it, with the creator stored as the service would. */
async function ringing(inst: { id: string; name: string } = MAIN, opts: { creatorIsLid?: boolean } = {}) {
  const callId = await fake.incomingCall({ instanceId: inst.id, from: PEER, lid: '187654321098765', ...opts });
  const creator = fake.call(callId)!.callCreator;
  return { callId, creator, call: callWith(callId, { callCreator: creator }) };
}

const lastRequest = () => fake.requests.at(-1)!;

// ───────────── tests ─────────────

describe('EvolutionProvider: reject and terminate', () => {
  test("reject posts the offer's CallCreator verbatim with the instance token, and the fake ends the call", async () => {
    const { p } = provider();
    const { callId, creator, call } = await ringing(MAIN, { creatorIsLid: true });
    assert.match(creator, /@lid$/);
    const result = await p.reject(numberFor(MAIN), call);
    // whatsmeow sends the stanza without waiting for WhatsApp: the 200 is not a confirmation.
    assert.deepEqual(result, { ok: true, value: { providerConfirmed: false } });
    const req = lastRequest();
    assert.equal(req.path, '/call/reject');
    assert.equal(req.instanceId, MAIN.id);
    assert.deepEqual(req.body, { callCreator: creator, callId });
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(fake.call(callId)?.phase, 'ended');
    assert.deepEqual(fake.violations, []);
  });

  test('providerData stored as JSON text works too; a bare number is never sent', async () => {
    const { callId, creator } = await ringing();
    assert.equal(evolutionCallCreatorOf(callWith(callId, JSON.stringify({ callCreator: creator }))), creator);
    assert.equal(evolutionCallCreatorOf(callWith(callId, { callCreator: PEER })), null);
    assert.equal(evolutionCallCreatorOf(callWith(callId, '{not json')), null);
    assert.equal(evolutionCallCreatorOf(callWith(callId, undefined)), null);
  });

  test('endCall(reject) on a stock server (no extension) uses /call/reject', async () => {
    const { p } = provider();
    const { callId, call } = await ringing(STOCK);
    const result = await p.endCall(numberFor(STOCK), call, 'reject');
    assert.equal(result.ok, true);
    assert.equal(fake.countRequests({ path: '/call/reject', callId }), 1);
    assert.equal(fake.call(callId)?.phase, 'ended');
  });

  test('reject without a stored CallCreator falls back to /call/hangup (extension rejects by id)', async () => {
    const { p } = provider();
    const { callId } = await ringing();
    const result = await p.endCall(numberFor(MAIN), callWith(callId, undefined), 'reject');
    assert.equal(result.ok, true);
    assert.equal(fake.countRequests({ path: '/call/reject' }), 0);
    assert.deepEqual(lastRequest().body, { callId });
    assert.equal(fake.call(callId)?.phase, 'ended');
  });

  test('terminate hangs up through the extension; a second one reads 404 JSON as ALREADY_ENDED', async () => {
    const { p, learned } = provider();
    const dial = await p.dial(numberFor(MAIN), PEER);
    assert.ok(dial.ok);
    const call = callWith(dial.value.externalCallId, undefined, { direction: 'OUTBOUND' });
    assert.deepEqual(await p.endCall(numberFor(MAIN), call, 'terminate'), { ok: true, value: undefined });
    assert.deepEqual(lastRequest().body, { callId: dial.value.externalCallId });
    const again = await p.endCall(numberFor(MAIN), call, 'terminate');
    assert.equal(again.ok, false);
    assert.equal(!again.ok && again.category, 'ALREADY_ENDED');
    assert.deepEqual(learned, ['present']);
  });

  test('terminate with no extension: gin 404 → NOT_SUPPORTED and that route missing; a fresh stored verdict skips the request', async () => {
    const { p, learned, routes } = provider({ now: () => Date.parse('2026-04-02T17:04:00Z') });
    const call = callWith('5D2A9C7E1B3F4A6C8E0D2F4A6C8E0B1D', undefined, { status: 'ACCEPTED' });
    const first = await p.endCall(numberFor(STOCK), call, 'terminate');
    assert.equal(!first.ok && first.category, 'NOT_SUPPORTED');
    assert.equal(!first.ok && first.providerMessage, EVOLUTION_NOT_SUPPORTED_MESSAGE);
    // Add-ons ship route subsets: one 404 rules out that route only, never the whole add-on (issue 16).
    assert.deepEqual(learned, []);
    assert.deepEqual(routes, ['/call/hangup missing']);
    assert.equal(fake.requests.length, 1);
    const routeStored = numberFor(STOCK, { missingRoutes: { '/call/hangup': '2026-04-02T17:03:00.000Z' } });
    assert.equal(p.isRouteMissing(routeStored, '/call/hangup'), true);
    assert.equal(p.isRouteMissing(routeStored, '/call/answer'), false);
    const skipped = await p.endCall(routeStored, call, 'terminate');
    assert.equal(!skipped.ok && skipped.category, 'NOT_SUPPORTED');
    assert.equal(fake.requests.length, 1, 'a route stored as missing is not asked again while fresh');

    const stored = numberFor(STOCK, {
      capabilities: { callsExtension: 'absent', checkedAt: '2026-04-02T17:00:00.000Z' },
    });
    assert.equal(p.capabilityOf(stored), 'absent');
    const second = await p.endCall(stored, call, 'terminate');
    assert.equal(!second.ok && second.category, 'NOT_SUPPORTED');
    assert.equal(fake.requests.length, 1, 'no provider request while the stored verdict is fresh');

    const stale = numberFor(STOCK, {
      capabilities: { callsExtension: 'absent', checkedAt: '2026-04-02T16:50:00.000Z' },
    });
    assert.equal(p.capabilityOf(stale), 'unknown');
  });

  test('terminate with the extension disabled: 409 calls are not active → NOT_SUPPORTED, capability disabled', async () => {
    const { p, learned } = provider();
    const result = await p.endCall(numberFor(PROXY), callWith('ABC', undefined, { status: 'ACCEPTED' }), 'terminate');
    assert.equal(!result.ok && result.category, 'NOT_SUPPORTED');
    assert.deepEqual(learned, ['disabled']);
  });

  test('instance offline: reject says NOT_CONNECTED, terminate says PROVIDER_DOWN (calls-api §4.8)', async () => {
    const { p } = provider();
    const { call } = await ringing();
    await fake.disconnect(MAIN.id, 'websocket not connected');
    const rejected = await p.reject(numberFor(MAIN), call);
    assert.equal(!rejected.ok && rejected.category, 'NOT_CONNECTED');
    assert.equal(!rejected.ok && rejected.providerMessage, 'websocket not connected');
    const ended = await p.endCall(numberFor(MAIN), call, 'reject');
    assert.equal(!ended.ok && ended.category, 'PROVIDER_DOWN');
    assert.equal(!ended.ok && ended.providerCode, 500);
  });

  test('one retry after a network error, none after a timeout or an HTTP error', async () => {
    // A deadline a loaded machine still meets for the retry; the hang below is the only one meant to miss it.
    const { p } = provider({ timeoutMs: 1000 });
    const { callId, call } = await ringing();
    fake.inject({ path: '/call/reject', reset: true });
    assert.equal((await p.reject(numberFor(MAIN), call)).ok, true);
    assert.equal(fake.countRequests({ path: '/call/reject', callId }), 2);

    fake.inject({ path: '/call/hangup', reset: true, times: 2 });
    const down = await p.endCall(numberFor(MAIN), call, 'terminate');
    assert.equal(!down.ok && down.category, 'PROVIDER_DOWN');
    assert.equal(fake.countRequests({ path: '/call/hangup' }), 2);

    fake.inject({ path: '/call/hangup', hang: true });
    const slow = await p.endCall(numberFor(MAIN), call, 'terminate');
    assert.equal(!slow.ok && slow.category, 'PROVIDER_DOWN');
    assert.match(!slow.ok ? slow.providerMessage : '', /within 1000 ms/);
    assert.equal(fake.countRequests({ path: '/call/hangup' }), 3);

    fake.inject({ path: '/call/hangup', status: 503, text: 'upstream down' });
    const http = await p.endCall(numberFor(MAIN), call, 'terminate');
    assert.equal(!http.ok && http.category, 'PROVIDER_DOWN');
    assert.equal(fake.countRequests({ path: '/call/hangup' }), 4);
  });

  test('an error text echoing the instance token reaches the caller without it', async () => {
    const { p } = provider();
    const { call } = await ringing();
    fake.inject({ path: '/call/answer', status: 418, error: `token ${MAIN.token} refused` });
    const json = await p.accept(numberFor(MAIN), call, null);
    assert.equal(!json.ok && json.providerMessage, 'token [redacted] refused');
    // A proxy's page, cut at 200 characters: the cut must not leave part of the token behind.
    fake.inject({ path: '/call/answer', status: 502, text: `${'x'.repeat(190)} apikey=${MAIN.token}` });
    const text = await p.accept(numberFor(MAIN), call, null);
    assert.equal(!text.ok && text.providerMessage.includes(MAIN.token.slice(0, 5)), false);
  });

  test('a hang-up whose connection broke after the server acted: the retry finds it ended, and that is ours', async () => {
    const { p } = provider();
    const dial = await p.dial(numberFor(MAIN), PEER);
    assert.ok(dial.ok);
    const call = callWith(dial.value.externalCallId, undefined, { direction: 'OUTBOUND' });
    fake.inject({ path: '/call/hangup', reset: true, applyEffect: true });
    const ended = await p.endCall(numberFor(MAIN), call, 'terminate');
    assert.equal(ended.ok, true, JSON.stringify(ended));
    assert.equal(fake.countRequests({ path: '/call/hangup', callId: dial.value.externalCallId }), 2);
  });

  test('one deadline for the whole hang-up: no retry without time left; the outcome is flagged unknown', async () => {
    const { p } = provider({ timeoutMs: 200 });
    const dial = await p.dial(numberFor(MAIN), PEER);
    assert.ok(dial.ok);
    const call = callWith(dial.value.externalCallId, undefined, { direction: 'OUTBOUND' });
    fake.inject({ path: '/call/hangup', reset: true, latencyMs: 190 });
    const down = await p.endCall(numberFor(MAIN), call, 'terminate');
    assert.equal(!down.ok && down.category, 'PROVIDER_DOWN');
    assert.equal(!down.ok && down.mayHaveActed, true, 'the request reached the server: it may have acted');
    assert.equal(fake.countRequests({ path: '/call/hangup', callId: dial.value.externalCallId }), 1);
  });

  test('hangup 500 that still ended the call, then the retry finds it gone (ALREADY_ENDED); F-goip 500 call not found', async () => {
    const { p } = provider();
    const dial = await p.dial(numberFor(MAIN), PEER);
    assert.ok(dial.ok);
    const call = callWith(dial.value.externalCallId, undefined, { direction: 'OUTBOUND' });
    fake.inject({ path: '/call/hangup', status: 500, error: 'failed to send terminate', applyEffect: true });
    const first = await p.endCall(numberFor(MAIN), call, 'terminate');
    assert.equal(!first.ok && first.category, 'PROVIDER_DOWN');
    const retry = await p.endCall(numberFor(MAIN), call, 'terminate');
    assert.equal(!retry.ok && retry.category, 'ALREADY_ENDED');
    fake.inject({ path: '/call/hangup', status: 500, error: 'call not found or already ended' });
    const goip = await p.endCall(numberFor(MAIN), call, 'terminate');
    assert.equal(!goip.ok && goip.category, 'ALREADY_ENDED');
  });
});

describe('EvolutionProvider: accept, dial, play, stream ticket', () => {
  test('accept answers with callId + callCreator; a second accept is a STATE_CONFLICT; an unknown call too', async () => {
    const { p } = provider();
    const { callId, creator, call } = await ringing();
    assert.equal((await p.accept(numberFor(MAIN), call, null)).ok, true);
    assert.deepEqual(lastRequest().body, { callId, callCreator: creator });
    assert.equal(fake.call(callId)?.phase, 'connecting');
    const twice = await p.accept(numberFor(MAIN), call, null);
    assert.equal(!twice.ok && twice.category, 'STATE_CONFLICT');
    const unknown = await p.accept(numberFor(MAIN), callWith('00000000000000000000000000000000', undefined), null);
    assert.equal(!unknown.ok && unknown.category, 'STATE_CONFLICT');
  });

  test('accept is never retried', async () => {
    const { p } = provider();
    const { call } = await ringing();
    fake.inject({ path: '/call/answer', reset: true });
    const r = await p.accept(numberFor(MAIN), call, null);
    assert.equal(!r.ok && r.category, 'PROVIDER_DOWN');
    assert.equal(fake.countRequests({ path: '/call/answer' }), 1);
  });

  test('dial sends digits only and answers the CallID; bad numbers never leave', async () => {
    const { p } = provider();
    const r = await p.dial(numberFor(MAIN), `+55 21 97777-6666`);
    assert.ok(r.ok);
    assert.match(r.value.externalCallId, /^[0-9A-F]{32}$/);
    assert.deepEqual(lastRequest().body, { number: PEER });
    assert.equal(fake.call(r.value.externalCallId)?.phase, 'calling');
    const bad = await p.dial(numberFor(MAIN), 'abc');
    assert.equal(!bad.ok && bad.category, 'INVALID_REQUEST');
    assert.equal(fake.countRequests({ path: '/call/dial' }), 1);
    const started = await p.start(numberFor(MAIN), { to: `+${PEER}`, sdp: null, bizOpaqueCallbackData: 'x' });
    assert.ok(started.ok);
    assert.deepEqual(fake.violations, []);
  });

  test('dial errors: 429 with Retry-After, 502 not retried, 400, 401', async () => {
    const { p } = provider();
    fake.inject({
      path: '/call/dial',
      status: 429,
      error: 'dial rate limit exceeded',
      headers: { 'Retry-After': '42' },
    });
    const limited = await p.dial(numberFor(MAIN), PEER);
    assert.equal(!limited.ok && limited.category, 'RATE_LIMITED');
    assert.equal(!limited.ok && limited.retryAfterSeconds, 42);
    fake.inject({ path: '/call/dial', status: 502, text: '<html>bad gateway</html>' });
    const down = await p.dial(numberFor(MAIN), PEER);
    assert.equal(!down.ok && down.category, 'PROVIDER_DOWN');
    assert.equal(fake.countRequests({ path: '/call/dial' }), 2);
    fake.inject({ path: '/call/dial', status: 400, error: 'number is not on WhatsApp' });
    const invalid = await p.dial(numberFor(MAIN), PEER);
    assert.equal(!invalid.ok && invalid.category, 'INVALID_REQUEST');
    assert.equal(!invalid.ok && invalid.providerMessage, 'number is not on WhatsApp');
    const { p: wrong } = provider({ secretsOf: () => ({ instanceToken: 'rotated' }) });
    const auth = await wrong.dial(numberFor(MAIN), PEER);
    assert.equal(!auth.ok && auth.category, 'AUTH');
    assert.equal(!auth.ok && auth.providerMessage, 'not authorized');
  });

  test('dial on a stock server: NOT_SUPPORTED', async () => {
    const { p } = provider();
    const r = await p.dial(numberFor(STOCK), PEER);
    assert.equal(!r.ok && r.category, 'NOT_SUPPORTED');
  });

  test('play is queued before the call is active; a bad URL never leaves; an ended call is a conflict', async () => {
    const { p } = provider();
    const { callId, call } = await ringing();
    const r = await p.play(numberFor(MAIN), call, 'https://cdn.example/greet.mp3');
    assert.deepEqual(r, { ok: true, value: { queued: true } });
    assert.deepEqual(
      fake.call(callId)?.plays.map((x) => x.mediaUrl),
      ['https://cdn.example/greet.mp3'],
    );
    const bad = await p.play(numberFor(MAIN), call, 'file:///etc/passwd');
    assert.equal(!bad.ok && bad.category, 'INVALID_REQUEST');
    assert.equal(fake.countRequests({ path: '/call/play' }), 1);
    await fake.peerHangsUp(callId);
    const late = await p.play(numberFor(MAIN), call, 'https://cdn.example/greet.mp3');
    assert.equal(!late.ok && late.category, 'STATE_CONFLICT');
  });

  test('stream ticket: ticket, server TTL and path; wsUrl from publicWsBaseUrl or baseUrl', async () => {
    const { p } = provider();
    const { callId, call } = await ringing();
    const r = await p.streamTicket(numberFor(MAIN), call, 'listen');
    assert.ok(r.ok);
    assert.equal(r.value.expiresInSeconds, 30);
    assert.equal(r.value.path, `/call/stream/${callId}?ticket=${r.value.ticket}`);
    assert.deepEqual(lastRequest().body, { callId, mode: 'listen', binary: true });
    assert.equal(
      evolutionWsUrl(numberFor(MAIN), r.value.path),
      fake.baseUrl.replace('http://', 'ws://') + r.value.path,
    );
    assert.equal(
      evolutionWsUrl(numberFor(MAIN, { publicWsBaseUrl: 'wss://evo.example.com/' }), '/p?t=1'),
      'wss://evo.example.com/p?t=1',
    );
    fake.inject({ path: '/call/stream-ticket', status: 429, error: 'ticket pool exhausted' });
    const full = await p.streamTicket(numberFor(MAIN), call, 'talk');
    assert.equal(!full.ok && full.category, 'RATE_LIMITED');
  });
});

describe('EvolutionProvider: probe, config, logging', () => {
  test('probe: present / absent / disabled, and 401 is a failure, not a capability', async () => {
    const { p } = provider();
    const present = await p.probe(numberFor(MAIN));
    assert.equal(present.ok && present.value.capability, 'present');
    // A server without /call/active may still have dial/answer/hangup: the probe rules nothing out.
    const absent = await p.probe(numberFor(STOCK));
    assert.equal(absent.ok && absent.value.capability, 'unknown');
    const disabled = await p.probe(numberFor(PROXY));
    assert.equal(disabled.ok && disabled.value.capability, 'disabled');
    // Even with a stored verdict, probe asks.
    const before = fake.requests.length;
    await p.probe(
      numberFor(STOCK, { capabilities: { callsExtension: 'absent', checkedAt: new Date().toISOString() } }),
    );
    assert.equal(fake.requests.length, before + 1);
    const { p: wrong } = provider({ secretsOf: () => ({ instanceToken: 'nope' }) });
    const auth = await wrong.probe(numberFor(MAIN));
    assert.equal(!auth.ok && auth.category, 'AUTH');
  });

  test('unreachable server → PROVIDER_DOWN; missing baseUrl → CONFIG', async () => {
    const { p } = provider();
    const gone = numberFor(MAIN, {}, 'http://127.0.0.1:1');
    const r = await p.probe(gone);
    assert.equal(!r.ok && r.category, 'PROVIDER_DOWN');
    const none = await p.probe(numberFor(MAIN, { baseUrl: undefined }));
    assert.equal(!none.ok && none.category, 'CONFIG');
  });

  test('a number whose server is not in EVOLUTION_ALLOWED_HOSTS is never sent a request (CONFIG)', async () => {
    const { call } = await ringing();
    const fakePort = Number(new URL(fake.baseUrl).port);
    const { p: elsewhere } = provider({ allowedHosts: [{ hostname: 'evo.internal', port: null }] });
    const before = fake.requests.length;
    const refused = await elsewhere.reject(numberFor(MAIN), call);
    assert.equal(!refused.ok && refused.category, 'CONFIG');
    assert.match(
      !refused.ok ? refused.providerMessage : '',
      /not a server this callgate may reach \(EVOLUTION_ALLOWED_HOSTS\)/,
    );
    assert.equal(!(await elsewhere.dial(numberFor(MAIN), PEER)).ok, true);
    assert.equal(fake.requests.length, before, 'the token went nowhere');
    const { p: listed } = provider({ allowedHosts: [{ hostname: '127.0.0.1', port: fakePort }] });
    assert.deepEqual(await listed.reject(numberFor(MAIN), call), { ok: true, value: { providerConfirmed: false } });
  });

  test('the instance token never reaches the logs', async () => {
    const { p } = provider();
    const { call } = await ringing();
    fake.inject({ path: '/call/reject', status: 401, error: 'not authorized' });
    await p.reject(numberFor(MAIN), call);
    await p.dial(numberFor(STOCK), PEER);
    await p.probe(numberFor(MAIN, {}, 'http://127.0.0.1:1'));
    // A 401 and a refusal log here; a network failure is logged once, by the provider observer (observed.ts).
    assert.ok(logLines.length >= 2);
    for (const line of logLines) {
      assert.ok(!line.includes(MAIN.token) && !line.includes(STOCK.token), line);
    }
  });
});
