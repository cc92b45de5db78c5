// Pilot's web numbers onboarded by QR through callgate's own Evolution Go server (docs/spec/pilot-compat.md §5),
// against the Evolution fake's instance routes (create, connect, qr, pair, status, advanced-settings).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issueKey } from '../../src/auth/keys.ts';
import type { TenantId } from '../../src/ids.ts';
import { insertApiKey } from '../../src/store/api-keys.ts';
import { insertTenant } from '../../src/store/tenants.ts';
import { type FakeEvolution, startFakeEvolution } from '../fakes/evolution-go.ts';
import { buildTestApp, eventually, type TestApp } from '../helpers/build-test-app.ts';
import { nextPeer } from '../helpers/calls.ts';
import { startOnboardingServer } from '../helpers/evolution.ts';
import { storeKinds } from '../helpers/stores.ts';
import { PilotClient } from './pilot-client.ts';

for (const kind of storeKinds()) {
  describe(`web numbers onboarded by QR [${kind}]`, () => {
    let evo: FakeEvolution;
    let t: TestApp;
    let tenant: PilotClient;
    before(async () => {
      // One instance some other customer already runs on the same server.
      const server = await startOnboardingServer();
      evo = server.evo;
      t = await buildTestApp(kind, { env: server.env });
      tenant = new PilotClient({ baseUrl: t.baseUrl, apiKey: t.tenantKey.key });
    });
    after(async () => {
      await evo.close();
      await t.close();
    });

    test("Pilot's POST /v1/numbers {name, number} creates, subscribes and answers the QR; pairing opens it", async () => {
      const res = await tenant.createWebNumber({ name: 'Loja', number: '+5511977770000' });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const { number, apiKey, qrcode, code } = res.body;
      assert.equal(number.provider, 'EVO_GO');
      assert.equal(number.phoneNumber, '+5511977770000');
      assert.equal(number.state, 'CONNECTING');
      assert.equal(number.isFullyConnected, false);
      assert.match(qrcode, /^data:image\/png;base64,/);
      assert.match(code, /^2@/);
      assert.equal(res.body.qrcodeBase64, qrcode, "Pilot's name for the QR");
      assert.equal(res.body.pairingCode, null, 'Pilot: null when no pairing code was asked for');
      assert.match(apiKey.key, /^ps_/);
      // Pilot's SDK reads the new number's id as created.instance.id (then connect/status with it).
      assert.deepEqual(res.body.instance, {
        id: number.id,
        name: 'Loja',
        number: '5511977770000',
        state: 'CONNECTING',
      });

      // The instance as the server now holds it: our webhook, CALL and CONNECTION, rejectCall off.
      const instanceId = evo.created.at(-1) ?? '';
      assert.equal(number.evolution.instanceId, instanceId);
      assert.deepEqual(evo.instanceSetup(instanceId), {
        webhookUrl: `${t.baseUrl}/providers/evolution/webhook/${number.id}`,
        subscribe: ['CALL', 'CONNECTION'],
        rejectCall: false,
      });
      const create = evo.requests.find((r) => r.path === '/instance/create');
      assert.equal(create?.headers.apikey, '[redacted]', 'the global key was sent as apikey');

      const waiting = await tenant.numberStatus(number.id);
      assert.equal(waiting.status, 200);
      assert.equal(waiting.body.state, 'CONNECTING');

      evo.completePairing(instanceId, '5511977770000');
      const open = await tenant.numberStatus(number.id);
      assert.deepEqual(
        {
          state: open.body.state,
          isFullyConnected: open.body.isFullyConnected,
          rejectCall: open.body.health.rejectCall,
        },
        { state: 'OPEN', isFullyConnected: true, rejectCall: false },
      );
      const listed = (await tenant.listNumbers()).body.find((n: { id: string }) => n.id === number.id);
      assert.equal(listed.state, 'OPEN', 'the status learned is kept');

      // The CONNECTION events the subscription brings are taken (200), so the server never retries them.
      await evo.emitRaw(instanceId, 'Connected', { jid: '5511977770000@s.whatsapp.net' });
      await evo.flush();
      const connection = evo.deliveries.filter((d) => d.instanceId === instanceId && d.event === 'Connected');
      assert.deepEqual(
        connection.map((d) => d.state),
        ['delivered'],
      );

      // Calls now reach callgate through the subscription.
      const callId = await evo.incomingCall({ instanceId, from: nextPeer() });
      await evo.flush();
      const own = new PilotClient({ baseUrl: t.baseUrl, apiKey: apiKey.key });
      const call = await eventually(
        async () => (await own.getCall(callId)).body.status === 'RINGING',
        3000,
        'the call to ring',
      );
      assert.ok(call);

      const again = await tenant.reconnectNumber(number.id);
      assert.equal(again.status, 200);
      assert.equal(again.body.state, 'OPEN', 'a paired number has no QR to give');
    });

    test('connect gives a new QR, or a pairing code for a phone; linkToApiKey:false issues no key', async () => {
      const res = await tenant.createWebNumber({ name: 'Sem chave', number: '5511966660000', linkToApiKey: false });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.apiKey, undefined);
      const id = res.body.instance.id;
      assert.equal(id, res.body.number.id);
      const fresh = await tenant.reconnectNumber(id);
      assert.equal(fresh.status, 200);
      assert.equal(fresh.body.state, 'CONNECTING');
      assert.match(fresh.body.qrcode, /^data:image\/png;base64,/);
      assert.equal(fresh.body.qrcodeBase64, fresh.body.qrcode);
      assert.notEqual(fresh.body.code, res.body.code, 'a new QR');
      const posted = await tenant.request('POST', `/v1/numbers/${id}/connect`);
      assert.equal(posted.status, 200, 'POST without a body does what GET does');
      assert.match(posted.body.qrcodeBase64, /^data:image\/png;base64,/);
      const pairing = await tenant.request('POST', `/v1/numbers/${id}/connect`, { phone: '+5511966660000' });
      assert.equal(pairing.status, 200, JSON.stringify(pairing.body));
      assert.match(pairing.body.pairingCode, /^[0-9A-F]{4}-[0-9A-F]{4}$/);
      assert.equal(pairing.body.qrcodeBase64, null);
      const key = await tenant.createApiKey(id);
      assert.equal(key.status, 201, 'the key comes later, through POST /v1/api-keys');
    });

    test('an Evolution server that fails the QR after the number is stored: 201 with its key, connect gives the QR', async () => {
      evo.inject({ path: '/instance/qr', status: 500, error: 'qr generation failed' });
      const res = await tenant.createWebNumber({ name: 'QR tardio', number: '+5511955550000' });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.match(res.body.apiKey.key, /^ps_/, 'the key, shown once, is not lost');
      assert.deepEqual([res.body.qrcode, res.body.code, res.body.qrcodeBase64], [null, null, null]);
      const id = res.body.number.id;
      const listed = (await tenant.request('GET', '/v1/numbers')).body as { phoneNumber: string }[];
      assert.equal(listed.filter((n) => n.phoneNumber === '+5511955550000').length, 1);
      const fresh = await tenant.reconnectNumber(id);
      assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
      assert.match(fresh.body.qrcode, /^data:image\/png;base64,/);
    });

    test("a reconnect keeps the instance's webhook URL, whatever Host the request names (a key cannot steal the instance token)", async () => {
      const res = await tenant.createWebNumber({ name: 'Host', number: '+5511955550000' });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const { number, apiKey } = res.body;
      const instanceId = evo.created.at(-1) ?? '';
      const ours = `${t.baseUrl}/providers/evolution/webhook/${number.id}`;
      for (const key of [apiKey.key, t.tenantKey.key]) {
        for (const body of [undefined, { phone: '+5511955550000' }]) {
          const connect = await t.app.inject({
            method: 'POST',
            url: `/v1/numbers/${number.id}/connect`,
            headers: { 'x-api-key': key, host: 'attacker.example:8443' },
            ...(body ? { payload: body } : {}),
          });
          assert.equal(connect.statusCode, 200, connect.body);
          assert.equal(evo.instanceSetup(instanceId)?.webhookUrl, ours);
        }
      }
      const get = await t.app.inject({
        method: 'GET',
        url: `/v1/numbers/${number.id}/connect`,
        headers: { 'x-api-key': apiKey.key, host: 'attacker.example' },
      });
      assert.equal(get.statusCode, 200, get.body);
      assert.equal(evo.instanceSetup(instanceId)?.webhookUrl, ours, 'still ours: events and token come to callgate');
    });

    test('a directly registered web number: its tenant key connects it first (the URL is kept), then its own key may', async () => {
      // Its own server, with an instance not connected (a connected one answers OPEN and subscribes nothing).
      const own = await startFakeEvolution({
        instances: [
          { id: 'own-instance', name: 'own', token: 'own-token', ownNumber: '5511900000001', connected: false },
        ],
      });
      try {
        const created = await t.app.inject({
          method: 'POST',
          url: '/v1/numbers',
          headers: { 'x-api-key': t.tenantKey.key },
          payload: {
            name: 'Registered',
            phoneNumber: '+5511900000001',
            provider: 'EVO_GO',
            evolution: { baseUrl: own.baseUrl, instanceId: 'own-instance', instanceToken: 'own-token' },
          },
        });
        assert.equal(created.statusCode, 201, created.body);
        const { number, apiKey } = created.json();
        const connect = (key: string, host: string) =>
          t.app.inject({
            method: 'POST',
            url: `/v1/numbers/${number.id}/connect`,
            headers: { 'x-api-key': key, host },
          });
        const early = await connect(apiKey.key, 'attacker.example');
        assert.equal(early.statusCode, 403, early.body);
        assert.equal(early.json().code, 'FORBIDDEN');
        assert.match(early.json().error, /tenant key/);
        const ours = new URL(t.baseUrl).host;
        assert.equal((await connect(t.tenantKey.key, ours)).statusCode, 200);
        const url = `${t.baseUrl}/providers/evolution/webhook/${number.id}`;
        assert.equal(own.instanceSetup('own-instance')?.webhookUrl, url);
        const later = await connect(apiKey.key, 'attacker.example');
        assert.equal(later.statusCode, 200, later.body);
        assert.equal(own.instanceSetup('own-instance')?.webhookUrl, url, 'the kept URL, not the Host');
      } finally {
        await own.close();
      }
    });

    test("the server's 400 to a create is a provider error (the body was valid); to a pairing phone, the caller's", async () => {
      evo.inject({ path: '/instance/create', status: 400, error: 'instance name already in use' });
      const refused = await tenant.createWebNumber({ name: 'Refused', number: '+5511977770098' });
      assert.equal(refused.status, 502, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'PROVIDER_ERROR');
      assert.equal(refused.body.details.providerMessage, 'instance name already in use');

      const made = await tenant.createWebNumber({ name: 'Pairs', number: '+5511977770097' });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      evo.inject({ path: '/instance/pair', status: 400, error: 'invalid phone number' });
      const pair = await t.app.inject({
        method: 'POST',
        url: `/v1/numbers/${made.body.number.id}/connect`,
        headers: { 'x-api-key': t.tenantKey.key },
        payload: { phone: '+5511977770097' },
      });
      assert.equal(pair.statusCode, 400, pair.body);
      assert.equal(pair.json().code, 'VALIDATION_ERROR');
    });

    test("the server's 429 to a create is 429 RATE_LIMITED with its Retry-After, else 10 s; nothing is stored", async () => {
      const before = (await tenant.listNumbers()).body.length;
      for (const [headers, expected] of [
        [{}, '10'],
        [{ 'Retry-After': '42' }, '42'],
      ] as const) {
        evo.inject({ path: '/instance/create', status: 429, error: 'too many requests', headers });
        const res = await t.app.inject({
          method: 'POST',
          url: '/v1/numbers',
          headers: { 'x-api-key': t.tenantKey.key },
          payload: { name: 'Limitado', number: '+5511977770096' },
        });
        assert.equal(res.statusCode, 429, res.body);
        assert.equal(res.json().code, 'RATE_LIMITED');
        assert.equal(res.headers['retry-after'], expected);
        assert.equal(res.json().details.providerMessage, 'too many requests');
        assert.equal(res.json().details.retryAfterSeconds, 'Retry-After' in headers ? 42 : undefined);
      }
      assert.equal((await tenant.listNumbers()).body.length, before, 'no number was stored');
      // A status check the server limits is the same 429.
      const made = await tenant.createWebNumber({ name: 'Consulta', number: '+5511977770095' });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      evo.inject({ path: '/instance/status', status: 429, error: 'too many requests' });
      const status = await tenant.numberStatus(made.body.number.id);
      assert.equal(status.status, 429, JSON.stringify(status.body));
      assert.equal(status.body.code, 'RATE_LIMITED');
    });

    test('deleting a web number onboarded by QR deletes its instance; one registered with its own instance stays', async () => {
      const res = await tenant.createWebNumber({ name: 'Gone', number: '+5511977770099' });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const instanceId = res.body.number.evolution.instanceId;
      const deleted = await tenant.deleteNumber(res.body.number.id);
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      assert.equal(evo.deleted.at(-1), instanceId, 'the instance is deleted on the server');
      const del = evo.requests.findLast((r) => r.path === `/instance/delete/${instanceId}`);
      assert.equal(del?.method, 'DELETE');

      // The other customer's instance on the same server, registered directly: callgate did not create it.
      const registered = await t.app.inject({
        method: 'POST',
        url: '/v1/numbers',
        headers: { 'x-api-key': t.tenantKey.key },
        payload: {
          name: 'Theirs',
          phoneNumber: '+5511900000000',
          provider: 'EVO_GO',
          evolution: { baseUrl: evo.baseUrl, instanceId: 'other-instance', instanceToken: 'other-token' },
        },
      });
      assert.equal(registered.statusCode, 201, registered.body);
      const before = evo.deleted.length;
      assert.equal((await tenant.deleteNumber(registered.json().number.id)).status, 200);
      assert.equal(evo.deleted.length, before, 'an instance callgate did not create is never deleted');
    });

    test("the instance's CONNECTION webhooks move the number's state: paired OPEN, dropped CLOSED, logged out CLOSED", async () => {
      const res = await tenant.createWebNumber({ name: 'Estado', number: '+5511977770050' });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const id = res.body.number.id;
      const instanceId = res.body.number.evolution.instanceId;
      const shown = async () => {
        const got = await tenant.request('GET', `/v1/numbers/${id}`);
        assert.equal(got.status, 200, JSON.stringify(got.body));
        const listed = (await tenant.listNumbers()).body.find((n: { id: string }) => n.id === id);
        assert.equal(listed.state, got.body.state, 'the list shows the same state');
        return { state: got.body.state, isFullyConnected: got.body.isFullyConnected, health: got.body.health };
      };
      // A drop before any pairing: still waiting for the QR.
      await evo.disconnect(instanceId);
      await evo.flush();
      assert.equal((await shown()).state, 'CONNECTING');

      await evo.pair(instanceId, '5511977770050');
      await evo.flush();
      assert.deepEqual(await shown(), {
        state: 'OPEN',
        isFullyConnected: true,
        health: { connected: true, loggedIn: true, event: 'Connected' },
      });

      await evo.disconnect(instanceId);
      await evo.flush();
      assert.deepEqual(await shown(), {
        state: 'CLOSED',
        isFullyConnected: false,
        health: { connected: false, loggedIn: true, event: 'Disconnected' },
      });
      await evo.reconnected(instanceId);
      await evo.flush();
      assert.equal((await shown()).state, 'OPEN');

      await evo.logout(instanceId);
      await evo.flush();
      const out = await shown();
      assert.equal(out.state, 'CLOSED');
      assert.deepEqual(
        [out.health.loggedIn, out.health.reason, out.health.event],
        [false, 'logged out from another device', 'LoggedOut'],
      );
      assert.match(out.health.problem, /new QR/);
      // A drop after the logout changes nothing: it stays CLOSED until a new scan, and still says why.
      await evo.disconnect(instanceId);
      await evo.flush();
      const dropped = await shown();
      assert.equal(dropped.state, 'CLOSED');
      assert.match(dropped.health.problem, /new QR/);
      // A status check reads the logged-out instance ("not logged in") the same way: CLOSED, a new QR needed.
      const checked = await tenant.numberStatus(id);
      assert.equal(checked.status, 200, JSON.stringify(checked.body));
      assert.deepEqual(
        [checked.body.state, checked.body.isFullyConnected, checked.body.health.loggedIn],
        ['CLOSED', false, false],
      );
      assert.match(checked.body.health.problem, /new QR/);
      assert.equal((await shown()).state, 'CLOSED', 'and keeps it');

      // Taken only when authenticated: a Connected with a wrong token is a 401 and moves nothing.
      const forged = await t.app.inject({
        method: 'POST',
        url: `/providers/evolution/webhook/${id}`,
        headers: { 'content-type': 'application/json' },
        payload: {
          event: 'Connected',
          data: { jid: '5511977770050@s.whatsapp.net' },
          instanceToken: 'wrong',
          instanceId,
        },
      });
      assert.equal(forged.statusCode, 401, forged.body);
      assert.equal((await shown()).state, 'CLOSED');
      assert.ok(
        evo.deliveries.filter((d) => d.instanceId === instanceId).every((d) => d.state === 'delivered'),
        'every CONNECTION event was taken (200), so the server retries none',
      );
    });

    test('a phone whose WhatsApp id keeps an old mobile prefix (Mexico 521, Argentina 549) is its own number', async () => {
      // WhatsApp ids of Mexican mobiles still read 52 1 + ten digits (E.164 dropped the 1 in 2019); Argentine mobiles
      // are 54 9 + ten digits, where the number is often written without the 9. Both are the number's own phone.
      for (const [number, jid] of [
        ['+525512340070', '5215512340070'],
        ['+541143210070', '5491143210070'],
      ] as const) {
        const res = await tenant.createWebNumber({ name: `Prefixo ${number}`, number });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        const { id } = res.body.number;
        const instanceId = res.body.number.evolution.instanceId;
        await evo.pair(instanceId, jid);
        await evo.flush();
        const shown = (await tenant.request('GET', `/v1/numbers/${id}`)).body;
        assert.equal(shown.state, 'OPEN', JSON.stringify(shown.health));
        assert.equal(
          evo.requests.filter((r) => r.path === '/instance/logout' && r.instanceId === instanceId).length,
          0,
          'not logged out',
        );
      }
      // Written with the prefix, the same phone is the same phone: the number linked first keeps it.
      const again = await tenant.createWebNumber({ name: 'Prefixo outra vez', number: '+5215512340070' });
      assert.equal(again.status, 201, JSON.stringify(again.body));
      await evo.pair(again.body.number.evolution.instanceId, '5215512340070');
      await evo.flush();
      const refused = (await tenant.request('GET', `/v1/numbers/${again.body.number.id}`)).body;
      assert.equal(refused.state, 'CLOSED');
      assert.match(refused.health.problem, /already linked to web number/);
    });

    test('one phone, one web number: a second link of a linked phone is logged out and CLOSED, in any tenant', async () => {
      const phone = '5511977770060';
      const make = async (client: PilotClient, name: string, number = `+${phone}`) => {
        const res = await client.createWebNumber({ name, number });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return { id: res.body.number.id as string, instanceId: res.body.number.evolution.instanceId as string };
      };
      const shown = async (client: PilotClient, id: string) => (await client.request('GET', `/v1/numbers/${id}`)).body;
      const loggedOut = (instanceId: string) =>
        evo.requests.filter(
          (r) => r.method === 'DELETE' && r.path === '/instance/logout' && r.instanceId === instanceId,
        ).length;

      const first = await make(tenant, 'Primeiro');
      await evo.pair(first.instanceId, phone);
      await evo.flush();
      assert.equal((await shown(tenant, first.id)).state, 'OPEN');

      // The same phone scans a second number's QR (the same tenant): that link is undone, the first keeps the phone.
      const second = await make(tenant, 'Segundo');
      await evo.pair(second.instanceId, phone);
      await evo.flush();
      const refused = await shown(tenant, second.id);
      assert.equal(refused.state, 'CLOSED');
      assert.equal(refused.health.loggedIn, false);
      assert.match(refused.health.problem, new RegExp(`already linked to web number ${first.id}`));
      assert.ok(loggedOut(second.instanceId) >= 1, 'the instance was logged out on the server');
      assert.equal(evo.instance(second.instanceId).connected, false);
      assert.equal((await shown(tenant, first.id)).state, 'OPEN');
      assert.equal(loggedOut(first.instanceId), 0);

      // Another tenant's number, same phone: refused too, without naming a number it may not see.
      const now = new Date().toISOString();
      const otherId = 'tenant_WEBPHONE' as TenantId;
      const otherKey = issueKey(otherId, null, now);
      await insertTenant(t.store.db, { id: otherId, name: 'Other', createdAt: now });
      await insertApiKey(t.store.db, otherKey.record);
      const other = new PilotClient({ baseUrl: t.baseUrl, apiKey: otherKey.key });
      const theirs = await make(other, 'Deles');
      await evo.pair(theirs.instanceId, phone);
      await evo.flush();
      const theirsShown = await shown(other, theirs.id);
      assert.equal(theirsShown.state, 'CLOSED');
      assert.match(theirsShown.health.problem, /another account/);
      assert.doesNotMatch(theirsShown.health.problem, /num_/);

      // A QR scanned with another phone than the number's: refused, saying which phone scanned it.
      const wrong = await make(tenant, 'Trocado', '+5511977770061');
      await evo.pair(wrong.instanceId, '5511977770062');
      await evo.flush();
      const wrongShown = await shown(tenant, wrong.id);
      assert.equal(wrongShown.state, 'CLOSED');
      assert.match(wrongShown.health.problem, /scanned with \+5511977770062/);
      // A status check of a refused link (the instance now logged out) keeps it CLOSED, saying why.
      const wrongChecked = (await other.request('GET', `/v1/numbers/${wrong.id}/status`)).status;
      assert.equal(wrongChecked, 404, "another tenant's number");
      const checked = await tenant.numberStatus(wrong.id);
      assert.equal(checked.body.state, 'CLOSED', JSON.stringify(checked.body));
      assert.match(checked.body.health.problem, /scanned with \+5511977770062/);

      // Once the first is logged out on the phone it holds nothing: the second may link the phone now.
      await evo.logout(first.instanceId);
      await evo.pair(second.instanceId, phone);
      await evo.flush();
      assert.equal((await shown(tenant, second.id)).state, 'OPEN');
    });

    test("status of a META number is its stored state; connect is 400 for it; another tenant's is 404", async () => {
      const meta = await tenant.numberStatus(t.numberA.id);
      assert.equal(meta.status, 200);
      assert.equal(meta.body.state, 'OPEN');
      const connect = await tenant.reconnectNumber(t.numberA.id);
      assert.equal(connect.status, 400, JSON.stringify(connect.body));
      assert.equal(connect.body.code, 'FEATURE_NOT_SUPPORTED');
      const other = new PilotClient({ baseUrl: t.baseUrl, apiKey: t.numberB.key.key });
      assert.equal((await other.numberStatus(t.numberA.id)).status, 404);
    });
  });

  describe(`web numbers by QR without an Evolution server [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    test('is a clear 400 naming the settings, and stores nothing', async () => {
      const tenant = new PilotClient({ baseUrl: t.baseUrl, apiKey: t.tenantKey.key });
      const before = (await tenant.listNumbers()).body.length;
      const res = await tenant.createWebNumber({ name: 'Loja', number: '+5511977770000' });
      assert.equal(res.status, 400);
      assert.equal(res.body.code, 'FEATURE_NOT_SUPPORTED');
      assert.match(res.body.error, /EVOLUTION_BASE_URL/);
      assert.equal((await tenant.listNumbers()).body.length, before);
    });
  });
}
