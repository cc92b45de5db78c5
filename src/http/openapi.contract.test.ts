// Every operation of /openapi.json, called for real: each answer (successes and the errors a client can meet) must
// have a status the operation documents, a body that validates against the schema documented for that status, and
// an error code listed for it. Clients generate their types from this document (the SDK does), so an answer that
// drifts from it breaks them silently. A route added without a scenario here fails the last test.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestWorker, workerConfig } from '../../test/e2e/webhook-helpers.ts';
import { type FakeEvolution, startFakeEvolution } from '../../test/fakes/evolution-go.ts';
import { CANNED_ANSWER_SDP, CANNED_OFFER_SDP, signMetaBody } from '../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../test/helpers/build-test-app.ts';
import { nextPeer, outbox, ringingCall } from '../../test/helpers/calls.ts';
import { addWebNumber, ringingWebCall, type WebNumber } from '../../test/helpers/evolution.ts';
import { type FaultyDb, faultyDb } from '../../test/helpers/faulty-db.ts';
import { type Contract, type OpenApiDocument, openApiContract } from '../../test/helpers/openapi-contract.ts';
import { mediaServer } from '../../test/helpers/server-media.ts';
import { sine } from '../../test/helpers/tone.ts';
import { wavFile } from '../../test/helpers/wav.ts';

/** Operations no request can bring to a 2xx here, and why. */
const NO_SUCCESS_HERE: Record<string, string> = {
  'GET /v1/media/realtime': 'a WebSocket upgrade (101); its token flow is realtime.test.ts',
};

describe('real answers match the published OpenAPI document', () => {
  let t: TestApp;
  let contract: Contract;
  let web: WebNumber;
  let sandbox: { key: string };
  let onboarding: FakeEvolution;
  let store: FaultyDb;
  let media: Awaited<ReturnType<typeof mediaServer>>;

  const call = async (
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    key: string | null,
    payload?: object | string,
    headers: Record<string, string> = {},
  ) => {
    const res = await t.app.inject({
      method,
      url,
      headers: { ...(key ? { 'x-api-key': key } : {}), ...headers },
      ...(payload ? { payload } : {}),
    });
    assert.deepEqual(contract.problems(method, url, res), [], `${method} ${url}`);
    return res;
  };
  const expect = async (status: number, ...args: Parameters<typeof call>) => {
    const res = await call(...args);
    assert.equal(res.statusCode, status, `${args[0]} ${args[1]}: ${res.body}`);
    return res;
  };
  const a = () => t.numberA.key.key;
  const tenant = () => t.tenantKey.key;

  before(async () => {
    // callgate's own Evolution Go server, for Pilot's web numbers onboarded by QR.
    onboarding = await startFakeEvolution({
      instances: [{ id: 'other-instance', name: 'other', token: 'other-token', ownNumber: '5511900000000' }],
      globalApiKey: 'evo-global-key',
      webhookRetryIntervalMs: 50,
    });
    t = await buildTestApp('sqlite', {
      wrapDb: (db) => {
        store = faultyDb(db);
        return store;
      },
      env: {
        WEBHOOK_ALLOW_INSECURE_URLS: 'true',
        EVOLUTION_BASE_URL: onboarding.baseUrl,
        EVOLUTION_GLOBAL_API_KEY: 'evo-global-key',
      },
    });
    contract = openApiContract((await t.app.inject({ url: '/openapi.json' })).json() as OpenApiDocument);
    web = await addWebNumber(t);
    media = await mediaServer({ 'tone.wav': wavFile([sine(440, 8000, 5)], 8000) });
    const created = await expect(201, 'POST', '/v1/numbers', tenant(), {
      provider: 'SANDBOX',
      name: 'Contract',
      sandbox: { answerAfterSeconds: 0, audio: 'tone:660' },
    });
    sandbox = { key: created.json().apiKey.key };
  });
  after(async () => {
    await web?.fake.close();
    await onboarding?.close();
    media?.server.close();
    await t?.close();
  });

  test('operations, health and provider webhooks', async () => {
    await expect(200, 'GET', '/healthz', null);
    await expect(200, 'GET', '/readyz', null);
    const verify = `/providers/meta/webhook?hub.mode=subscribe&hub.verify_token=vt_a&hub.challenge=42`;
    await expect(200, 'GET', verify, null);
    await expect(403, 'GET', verify.replace('vt_a', 'wrong'), null);
    await expect(400, 'GET', '/providers/meta/webhook', null);
    const body = JSON.stringify(t.fake.buildWebhook(t.numberA.phoneNumberId, { calls: [] }));
    const signed = { 'content-type': 'application/json', 'x-hub-signature-256': signMetaBody(body, 'app-secret-a') };
    const meta = await t.app.inject({ method: 'POST', url: '/providers/meta/webhook', headers: signed, payload: body });
    assert.deepEqual(contract.problems('POST', '/providers/meta/webhook', meta), []);
    assert.equal(meta.statusCode, 200);
    const unsigned = { 'content-type': 'application/json' };
    const refused = await t.app.inject({
      method: 'POST',
      url: '/providers/meta/webhook',
      headers: unsigned,
      payload: body,
    });
    assert.deepEqual(contract.problems('POST', '/providers/meta/webhook', refused), []);
    assert.equal(refused.statusCode, 401);
    const evo = `/providers/evolution/webhook/${web.id}`;
    const envelope = { event: 'Connected', data: {}, instanceToken: web.token, instanceId: web.instanceId };
    await expect(200, 'POST', evo, null, envelope);
    await expect(401, 'POST', evo, null, { ...envelope, instanceToken: 'wrong' });
  });

  test('numbers and keys', async () => {
    await expect(200, 'GET', '/v1/numbers', tenant());
    await expect(200, 'GET', '/v1/numbers', a());
    await expect(401, 'GET', '/v1/numbers', 'ps_wrong');
    await expect(200, 'GET', '/v1/number', a());
    await expect(403, 'GET', '/v1/number', tenant());
    await expect(200, 'GET', `/v1/numbers/${t.numberA.id}`, tenant());
    await expect(404, 'GET', '/v1/numbers/num_nope', tenant());
    await expect(400, 'GET', '/v1/numbers/bad-id!', tenant());
    await expect(403, 'GET', `/v1/numbers/${t.numberA.id}`, a());
    await expect(200, 'PATCH', `/v1/numbers/${t.numberA.id}`, tenant(), { recordCalls: false });
    await expect(400, 'PATCH', `/v1/numbers/${t.numberA.id}`, tenant(), { color: 'red' });
    await expect(400, 'POST', '/v1/numbers', tenant(), { name: '' });
    await expect(403, 'POST', '/v1/numbers', a(), { name: 'x', provider: 'SANDBOX' });
    // Pilot's web number by QR, here without its key: POST /v1/api-keys makes it.
    const qr = await expect(201, 'POST', '/v1/numbers', tenant(), {
      name: 'Web',
      number: '+5511988880000',
      linkToApiKey: false,
    });
    const qrId = qr.json().number.id;
    await expect(200, 'POST', `/v1/numbers/${qrId}/connect`, tenant());
    await expect(200, 'GET', `/v1/numbers/${qrId}/connect`, tenant());
    await expect(201, 'POST', '/v1/api-keys', tenant(), { whatsappNumberId: qrId });
    await expect(200, 'GET', `/v1/numbers/${web.id}/status`, tenant());
    await expect(404, 'GET', '/v1/numbers/num_nope/status', tenant());
    await expect(404, 'POST', '/v1/numbers/num_nope/connect', tenant());

    await expect(200, 'GET', '/v1/api-keys', tenant());
    await expect(200, 'GET', '/v1/api-keys/current', tenant());
    await expect(200, 'GET', '/v1/api-keys/current', a());
    await expect(401, 'GET', '/v1/api-keys/current', 'ps_nope');
    await expect(403, 'GET', '/v1/api-keys', a());
    await expect(409, 'POST', '/v1/api-keys', tenant(), { whatsappNumberId: t.numberA.id });
    await expect(400, 'POST', '/v1/api-keys', tenant(), {});
    const spare = await expect(201, 'POST', '/v1/numbers', tenant(), { provider: 'SANDBOX', name: 'Spare' });
    const spareId = spare.json().number.id;
    await expect(200, 'POST', `/v1/api-keys/${spareId}/regenerate`, tenant());
    await expect(200, 'POST', '/v1/api-keys/regenerate', tenant(), { whatsappNumberId: spareId });
    await expect(400, 'POST', '/v1/api-keys/regenerate', tenant(), {});
    await expect(404, 'POST', '/v1/api-keys/num_nope/regenerate', tenant());
    await expect(200, 'DELETE', `/v1/numbers/${spareId}`, tenant());
    await expect(404, 'DELETE', `/v1/numbers/${spareId}`, tenant());
  });

  test('calls: listing, reading, settings and permissions', async () => {
    const ringing = await ringingCall(t);
    await expect(200, 'GET', '/v1/calls', a());
    await expect(200, 'GET', '/v1/calls?limit=1&status=RINGING', a());
    await expect(400, 'GET', '/v1/calls?limit=0', a());
    await expect(403, 'GET', '/v1/calls', tenant());
    await expect(200, 'GET', `/v1/calls/${ringing.id}`, a());
    await expect(200, 'GET', `/v1/calls/${ringing.externalCallId}?includeSdp=1`, a());
    await expect(404, 'GET', `/v1/calls/${ringing.id}`, t.numberB.key.key);
    await expect(200, 'GET', `/v1/calls/${ringing.id}/events`, a());
    await expect(404, 'GET', '/v1/calls/call_nope/events', a());

    await expect(200, 'GET', '/v1/calls/settings', a());
    await expect(200, 'PUT', '/v1/calls/settings', a(), { status: 'ENABLED' });
    await expect(400, 'PUT', '/v1/calls/settings', a(), { sip: { status: 'ENABLED' } });
    await expect(400, 'GET', '/v1/calls/settings', web.key.key);
    const to = `+${nextPeer()}`;
    await expect(200, 'GET', `/v1/calls/permissions?to=${encodeURIComponent(to)}`, a());
    await expect(400, 'GET', '/v1/calls/permissions', a());
    await expect(200, 'POST', '/v1/calls/permissions/request', a(), { to });
  });

  test('calls: placing, answering, rejecting and hanging up', async () => {
    const peer = nextPeer();
    await expect(403, 'POST', '/v1/calls', a(), { to: `+${peer}`, sdp: CANNED_OFFER_SDP });
    t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
    const placed = await expect(201, 'POST', '/v1/calls', a(), { to: `+${peer}`, sdp: CANNED_OFFER_SDP });
    await expect(400, 'POST', '/v1/calls', a(), { to: 'nobody' });

    const first = await ringingCall(t);
    await expect(200, 'POST', `/v1/calls/${first.id}/pre-accept`, a(), { sdp: CANNED_ANSWER_SDP });
    await expect(200, 'POST', `/v1/calls/${first.id}/accept`, a(), { sdp: CANNED_ANSWER_SDP });
    await expect(409, 'POST', `/v1/calls/${first.id}/accept`, a(), { sdp: CANNED_ANSWER_SDP });
    await expect(409, 'POST', `/v1/calls/${first.id}/reject`, a());
    await expect(400, 'POST', `/v1/calls/${first.id}/play`, a(), { mediaUrl: 'http://127.0.0.1:9/a.wav' });
    await expect(200, 'POST', `/v1/calls/${first.id}/terminate`, a());
    await expect(200, 'POST', `/v1/calls/${first.id}/terminate`, a());
    await expect(404, 'POST', '/v1/calls/call_nope/terminate', a());
    await expect(400, 'POST', '/v1/calls/bad%20id/terminate', a());
    await expect(401, 'POST', `/v1/calls/${first.id}/terminate`, null);
    await expect(403, 'POST', `/v1/calls/${first.id}/terminate`, tenant());

    const second = await ringingCall(t);
    await expect(200, 'POST', `/v1/calls/${second.id}/reject`, a());
    await expect(404, 'POST', '/v1/calls/call_nope/reject', a());

    t.fake.inject({ action: 'terminate', times: 2, status: 500, error: { code: 1 } });
    await expect(502, 'POST', `/v1/calls/${placed.json().id}/terminate`, a());
    t.fake.clearInjections();
    await expect(200, 'POST', `/v1/calls/${placed.json().id}/terminate`, a());
  });

  test('calls of a web number: an offline instance, and what it cannot do', async () => {
    const ringing = await ringingWebCall(t, web);
    await expect(400, 'POST', `/v1/calls/${ringing.id}/pre-accept`, web.key.key, { sdp: CANNED_ANSWER_SDP });
    // providers-evolution-go.md §2: an offline instance is 409 WHATSAPP_INSTANCE_NOT_CONNECTED, except on terminate.
    web.fake.inject({ path: '/call/answer', status: 500, body: { error: 'client disconnected' } });
    await expect(409, 'POST', `/v1/calls/${ringing.id}/accept`, web.key.key);
    web.fake.inject({ path: '/call/reject', status: 500, body: { error: 'client disconnected' } });
    await expect(409, 'POST', `/v1/calls/${ringing.id}/reject`, web.key.key);
    await expect(200, 'POST', `/v1/calls/${ringing.id}/accept`, web.key.key);
    await expect(200, 'POST', `/v1/calls/${ringing.id}/play`, web.key.key, { mediaUrl: media.url('tone.wav') });
    // Barge-in needs the caller's keys, which a web number's server does not pass on.
    const bargeIn = await expect(400, 'POST', `/v1/calls/${ringing.id}/play`, web.key.key, {
      mediaUrl: media.url('tone.wav'),
      stopOnKey: true,
    });
    assert.equal(bargeIn.json().code, 'FEATURE_NOT_SUPPORTED');
    assert.match(bargeIn.json().details.reason, /stopOnKey needs/);
    await expect(200, 'POST', `/v1/calls/${ringing.id}/realtime-session`, web.key.key, { mode: 'listen' });
    await expect(200, 'POST', `/v1/calls/${ringing.id}/terminate`, web.key.key);
  });

  test('server media on a sandbox number: play, realtime, recording', async () => {
    const rung = await expect(201, 'POST', '/v1/sandbox/calls', sandbox.key, {});
    const id = rung.json().call.id;
    await expect(200, 'GET', `/v1/sandbox/calls/${id}`, sandbox.key);
    await expect(404, 'GET', '/v1/sandbox/calls/call_nope', sandbox.key);
    await expect(400, 'POST', '/v1/sandbox/calls', a(), {});
    await expect(200, 'POST', `/v1/calls/${id}/accept`, sandbox.key, { record: true });
    await expect(409, 'GET', `/v1/calls/${id}/recording`, sandbox.key);
    await expect(200, 'POST', `/v1/calls/${id}/play`, sandbox.key, { mediaUrl: media.url('tone.wav') });
    await expect(200, 'DELETE', `/v1/calls/${id}/play`, sandbox.key);
    await expect(200, 'POST', `/v1/calls/${id}/realtime-session`, sandbox.key, { mode: 'listen' });
    await expect(400, 'POST', `/v1/calls/${id}/realtime-session`, sandbox.key, { mode: 'shout' });
    await expect(400, 'GET', '/v1/media/realtime', null);
    await eventually(
      async () =>
        (await t.app.inject({ url: `/v1/sandbox/calls/${id}`, headers: { 'x-api-key': sandbox.key } })).json().media ===
        'connected',
      8000,
      'the simulated user’s media',
    );
    await expect(202, 'POST', `/v1/sandbox/calls/${id}/dtmf`, sandbox.key, { digits: '1#' });
    await expect(400, 'POST', `/v1/sandbox/calls/${id}/dtmf`, sandbox.key, { digits: 'x' });
    await expect(404, 'POST', '/v1/sandbox/calls/call_nope/dtmf', sandbox.key, { digits: '1' });
    await expect(200, 'POST', `/v1/calls/${id}/terminate`, sandbox.key);
    await eventually(
      async () =>
        (await t.app.inject({ url: `/v1/sandbox/calls/${id}`, headers: { 'x-api-key': sandbox.key } })).json().ended,
      8000,
      'the simulated user to hang up',
    );
    await expect(409, 'POST', `/v1/sandbox/calls/${id}/dtmf`, sandbox.key, { digits: '1' });
    await eventually(
      async () =>
        (await t.app.inject({ url: `/v1/calls/${id}`, headers: { 'x-api-key': sandbox.key } })).json().recording
          ?.status === 'ready',
      15_000,
      'the recording',
    );
    await expect(200, 'GET', `/v1/calls/${id}/recording`, sandbox.key);
    await expect(206, 'GET', `/v1/calls/${id}/recording`, sandbox.key, undefined, { range: 'bytes=0-9' });
    await expect(416, 'GET', `/v1/calls/${id}/recording`, sandbox.key, undefined, { range: 'bytes=999999999-' });
    await expect(200, 'DELETE', `/v1/calls/${id}/recording`, sandbox.key);
    await expect(404, 'DELETE', '/v1/calls/call_nope/recording', sandbox.key);
  });

  test('webhooks and the event stream', async () => {
    await expect(200, 'GET', '/v1/webhooks/event-types', a());
    const created = await expect(201, 'POST', '/v1/webhooks', a(), {
      url: 'http://127.0.0.1:9/hook',
      events: ['call.ringing', 'call.ended'],
    });
    const id = created.json().id;
    await expect(400, 'POST', '/v1/webhooks', tenant(), { url: 'http://127.0.0.1:9/hook', events: ['call.ended'] });
    await expect(200, 'GET', '/v1/webhooks', a());
    await expect(200, 'GET', `/v1/webhooks/${id}`, a());
    await expect(404, 'GET', `/v1/webhooks/${id}`, t.numberB.key.key);
    await expect(200, 'PATCH', `/v1/webhooks/${id}`, a(), { name: 'Renamed' });
    await expect(400, 'PATCH', `/v1/webhooks/${id}`, a(), { events: ['nope'] });
    await expect(200, 'POST', `/v1/webhooks/${id}/rotate-secret`, a());
    await expect(200, 'GET', `/v1/webhooks/${id}/logs?limit=5`, a());
    await expect(400, 'GET', `/v1/webhooks/${id}/logs?limit=500`, a());
    const ringing = await ringingCall(t);
    const [event] = await outbox(t, ringing);
    assert.ok(event);
    await expect(202, 'POST', `/v1/webhooks/${id}/replay`, a(), { eventId: event.id });
    await expect(404, 'POST', `/v1/webhooks/${id}/replay`, a(), { eventId: 'evt_nope' });
    // The receiver refuses connections: the log's entries are failed attempts.
    const worker = startTestWorker(t.store.db, workerConfig());
    try {
      await eventually(
        async () => (await call('GET', `/v1/webhooks/${id}/logs`, a())).json().logs.length > 0,
        10_000,
        'a delivery attempt',
      );
    } finally {
      await worker.stop();
    }
    await expect(200, 'DELETE', `/v1/webhooks/${id}`, a());
    await expect(404, 'DELETE', `/v1/webhooks/${id}`, a());

    // Server-Sent Events never end: read the head of the answer and hang up.
    const controller = new AbortController();
    const stream = await fetch(`${t.baseUrl}/v1/events/stream`, {
      headers: { 'x-api-key': a() },
      signal: controller.signal,
    });
    const headers = Object.fromEntries(stream.headers);
    controller.abort();
    assert.deepEqual(
      contract.problems('GET', '/v1/events/stream', { statusCode: stream.status, headers, body: '' }),
      [],
    );
    assert.equal(stream.status, 200);
    await expect(401, 'GET', '/v1/events/stream', 'ps_wrong');
  });

  test('a replayed Idempotency-Key answers as documented too', async () => {
    const key = { 'idempotency-key': `contract-${Date.now()}` };
    const body = { url: 'http://127.0.0.1:9/replayed', events: ['call.ended'] };
    const first = await expect(201, 'POST', '/v1/webhooks', a(), body, key);
    const again = await expect(201, 'POST', '/v1/webhooks', a(), body, key);
    assert.equal(again.body, first.body);
    await expect(422, 'POST', '/v1/webhooks', a(), { ...body, name: 'other' }, key);
    await expect(404, 'POST', '/v1/calls/call_nope/reject', a(), undefined, { 'idempotency-key': 'contract-r' });
    await expect(404, 'POST', '/v1/calls/call_nope/reject', a(), undefined, { 'idempotency-key': 'contract-r' });
    await expect(404, 'POST', '/v1/calls/call_nope/terminate', a(), undefined, { 'idempotency-key': 'contract-t' });
    await expect(404, 'POST', '/v1/calls/call_nope/terminate', a(), undefined, { 'idempotency-key': 'contract-t' });
  });

  test('a store that cannot take writes: 503 STORE_UNAVAILABLE on the routes that write', async () => {
    const hook = await expect(201, 'POST', '/v1/webhooks', a(), { url: 'http://127.0.0.1:9/x', events: ['*'] });
    store.failWrites = true;
    try {
      await expect(503, 'PATCH', `/v1/webhooks/${hook.json().id}`, a(), { active: false });
      await expect(503, 'DELETE', `/v1/webhooks/${hook.json().id}`, a());
      await expect(503, 'PATCH', `/v1/numbers/${t.numberB.id}`, tenant(), { recordCalls: true });
      await expect(503, 'DELETE', `/v1/numbers/${t.numberB.id}`, tenant());
      await expect(503, 'POST', `/v1/webhooks/${hook.json().id}/rotate-secret`, a());
    } finally {
      store.failWrites = false;
    }
  });

  test('a body that is not JSON, or too large: 415 and 413 where a body is parsed, never on terminate', async () => {
    const text = { 'content-type': 'text/plain' };
    await expect(415, 'POST', '/v1/webhooks', a(), 'hello', text);
    await expect(415, 'POST', '/v1/calls/call_nope/reject', a(), 'hello', text);
    await expect(415, 'DELETE', '/v1/webhooks/whk_nope', a(), 'hello', text);
    const huge = { url: `http://127.0.0.1:9/${'a'.repeat(2 * 1024 * 1024)}` };
    await expect(413, 'PATCH', '/v1/webhooks/whk_nope', a(), huge);
    await expect(413, 'POST', '/v1/numbers', tenant(), huge);
    await expect(404, 'POST', '/v1/calls/call_nope/terminate', a(), huge);
  });

  test('every documented operation was called, and all but a few reached a success', () => {
    const missing = contract.operations.filter((op) => !contract.seen.has(op));
    assert.deepEqual(missing, [], 'operations no scenario called');
    const neverSucceeded = contract.operations.filter(
      (op) => !NO_SUCCESS_HERE[op] && ![...(contract.seen.get(op) ?? [])].some((s) => s >= 200 && s < 300),
    );
    assert.deepEqual(neverSucceeded, [], 'operations never answered 2xx');
  });
});
