// Tenancy and keys (docs/spec/calls-api.md §1): numbers, masked keys, regeneration, scopes, secrets at rest.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { acceptedCall, nextPeer, outbox, ringingCall, storedCall } from '../../../../test/helpers/calls.ts';
import { addWebNumber } from '../../../../test/helpers/evolution.ts';
import { ManualClock } from '../../../../test/helpers/manual-clock.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { issueKey } from '../../../auth/keys.ts';
import type { NumberId, TenantId } from '../../../ids.ts';
import { insertApiKey } from '../../../store/api-keys.ts';
import type { Db } from '../../../store/db.ts';
import { insertOutboundAttempt } from '../../../store/outbound-attempts.ts';
import { insertTenant } from '../../../store/tenants.ts';

for (const kind of storeKinds()) {
  describe(`numbers and keys [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    const asTenant = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': t.tenantKey.key }, ...(payload ? { payload } : {}) });
    const evoNumber = {
      name: 'Vendas',
      phoneNumber: '+5511988887777',
      provider: 'EVO_GO',
      evolution: {
        baseUrl: 'http://evo.internal:8080/',
        instanceId: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
        instanceName: 'vendas-sp',
        instanceToken: 'evo-secret-token',
      },
    };

    test('creating a number returns it without secrets plus its key, shown once', async () => {
      const res = await asTenant('POST', '/v1/numbers', evoNumber);
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.match(body.number.id, /^num_[0-9A-Z]{26}$/);
      assert.equal(body.number.provider, 'EVO_GO');
      assert.equal(body.number.evolution.baseUrl, 'http://evo.internal:8080');
      assert.match(body.apiKey.id, /^key_[A-Za-z0-9]{32}$/);
      assert.match(body.apiKey.key, /^ps_[A-Za-z0-9]{40}$/);
      assert.doesNotMatch(res.body, /evo-secret-token/);
      const got = await asTenant('GET', `/v1/numbers/${body.number.id}`);
      assert.equal(got.statusCode, 200);
      assert.doesNotMatch(got.body, /evo-secret-token|ps_|key_/);
    });

    test('an Evolution base URL that names no host is a 400, and no number is stored', async () => {
      const before = (await asTenant('GET', '/v1/numbers')).json().length;
      for (const baseUrl of ['https://', 'http:///', 'https://?x']) {
        const res = await asTenant('POST', '/v1/numbers', {
          ...evoNumber,
          evolution: { ...evoNumber.evolution, baseUrl },
        });
        assert.equal(res.statusCode, 400, `${baseUrl}: ${res.body}`);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
      }
      assert.equal((await asTenant('GET', '/v1/numbers')).json().length, before);
    });

    test('an Evolution base URL with a query or fragment is a 400: the Evolution path must follow it', async () => {
      const before = (await asTenant('GET', '/v1/numbers')).json().length;
      for (const baseUrl of ['http://evo.internal:8080/?', 'http://evo.internal/x?a=1', 'http://evo.internal/x#']) {
        const res = await asTenant('POST', '/v1/numbers', {
          ...evoNumber,
          evolution: { ...evoNumber.evolution, baseUrl },
        });
        assert.equal(res.statusCode, 400, `${baseUrl}: ${res.body}`);
        assert.match(res.json().details.reason, /must not have a query or fragment/);
      }
      assert.equal((await asTenant('GET', '/v1/numbers')).json().length, before);
    });

    test('an Evolution URL with a user or password in it is a 400: it would be shown in clear to every key', async () => {
      const before = (await asTenant('GET', '/v1/numbers')).json().length;
      for (const evolution of [
        { ...evoNumber.evolution, baseUrl: 'http://admin:hunter2@evo.internal:8080' },
        { ...evoNumber.evolution, baseUrl: 'https://hunter2@evo.internal' },
        { ...evoNumber.evolution, publicWsBaseUrl: 'wss://ws:hunter2@evo.example.com' },
      ]) {
        const res = await asTenant('POST', '/v1/numbers', { ...evoNumber, evolution });
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
        assert.match(res.json().details.reason, /must not contain credentials/);
        assert.doesNotMatch(res.body, /hunter2/);
      }
      const listed = await asTenant('GET', '/v1/numbers');
      assert.equal(listed.json().length, before);
      assert.doesNotMatch(listed.body, /hunter2/);
    });

    test('an Evolution token or webhook secret no HTTP header can carry is a 400 naming it; nothing stored', async () => {
      const before = (await asTenant('GET', '/v1/numbers')).json().length;
      for (const [field, value] of [
        ['instanceToken', 'evo-secret-token\n'],
        ['instanceToken', 'evo secret'],
        ['instanceToken', 'evo-😀'],
        ['webhookSecret', 'proxy-secret\r\n'],
      ] as const) {
        const res = await asTenant('POST', '/v1/numbers', {
          ...evoNumber,
          evolution: { ...evoNumber.evolution, [field]: value },
        });
        assert.equal(res.statusCode, 400, `${JSON.stringify(value)}: ${res.body}`);
        assert.equal(res.json().details.field, `evolution.${field}`);
        assert.match(res.json().details.reason, /visible ASCII/);
      }
      assert.equal((await asTenant('GET', '/v1/numbers')).json().length, before);
    });

    test('provider credentials are encrypted at rest', async () => {
      const rows = await t.store.db.query<{ secret_config: string; public_config: string }>(
        'SELECT secret_config, public_config FROM numbers',
      );
      for (const row of rows) {
        assert.match(row.secret_config, /^v1:/);
        assert.doesNotMatch(row.secret_config + row.public_config, /app-secret-a|EAAG-token|evo-secret-token|vt_a/);
      }
    });

    test('keys are stored as hashes only', async () => {
      const rows = await t.store.db.query<Record<string, string>>('SELECT * FROM api_keys');
      const dump = JSON.stringify(rows);
      for (const secret of [t.tenantKey.key, t.tenantKey.id, t.numberB.key.key, t.numberB.key.id]) {
        assert.ok(!dump.includes(secret));
      }
    });

    test('the same Meta phone_number_id cannot be registered twice', async () => {
      // With the number's own token, which Meta confirms: what refuses it is the id already taken.
      const res = await asTenant('POST', '/v1/numbers', {
        name: 'dup',
        phoneNumber: '+551140040000',
        provider: 'META',
        meta: { phoneNumberId: t.numberA.phoneNumberId, accessToken: 'EAAG-token-a', appSecret: 'b', verifyToken: 'c' },
      });
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().code, 'NUMBER_CONFLICT');
    });

    test('listing keys shows them masked', async () => {
      const res = await asTenant('GET', '/v1/api-keys');
      assert.equal(res.statusCode, 200);
      const keys = res.json();
      assert.ok(Array.isArray(keys) && keys.length >= 2, "Pilot's bare array, one item per number");
      const b = keys.find((k: { numberId: string }) => k.numberId === t.numberB.id);
      assert.equal(b.keyLast4, t.numberB.key.key.slice(-4));
      assert.equal(b.keyIdLast4, t.numberB.key.id.slice(-4));
      assert.equal(b.keyId, `key_…${t.numberB.key.id.slice(-4)}`, 'the id is shown masked');
      assert.equal(b.key, null);
      assert.equal(b.revealable, false);
      assert.ok(!res.body.includes(t.numberB.key.key) && !res.body.includes(t.numberB.key.id));
    });

    test('regenerating a key: the new id and secret work, the old ones stop at once', async () => {
      const old = t.numberB.key;
      const res = await asTenant('POST', `/v1/api-keys/${t.numberB.id}/regenerate`);
      assert.equal(res.statusCode, 200);
      const fresh = res.json().apiKey;
      t.numberB.key = fresh;
      for (const headers of [{ 'x-api-key': old.key }, { 'x-api-key-id': old.id }]) {
        assert.equal((await t.app.inject({ url: '/v1/calls', headers })).statusCode, 401);
      }
      for (const headers of [{ 'x-api-key': fresh.key }, { 'x-api-key-id': fresh.id }]) {
        assert.equal((await t.app.inject({ url: '/v1/calls', headers })).statusCode, 200);
      }
    });

    test('scope errors: a number key on a tenant endpoint → 403 NUMBER_SCOPE_NOT_ALLOWED', async () => {
      const res = await t.app.inject({ url: '/v1/api-keys', headers: { 'x-api-key': t.numberA.key.key } });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().code, 'NUMBER_SCOPE_NOT_ALLOWED');
    });

    test('GET /v1/api-keys/current says what any key speaks for, by secret or by id; no key is a 401', async () => {
      const current = (headers: Record<string, string>) => t.app.inject({ url: '/v1/api-keys/current', headers });
      for (const headers of [{ 'x-api-key': t.tenantKey.key }, { 'x-api-key-id': t.tenantKey.id }] as Record<
        string,
        string
      >[]) {
        const res = await current(headers);
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(res.json(), { scope: 'tenant', tenantId: t.tenantId, whatsappNumberId: null });
      }
      const own = await current({ 'x-api-key': t.numberA.key.key });
      assert.equal(own.statusCode, 200, own.body);
      assert.deepEqual(own.json(), { scope: 'number', tenantId: t.tenantId, whatsappNumberId: t.numberA.id });
      assert.equal((await current({ 'x-api-key': 'ps_nope' })).statusCode, 401);
      assert.equal((await current({})).statusCode, 401);
    });

    test('no key or an unknown key → 401 UNAUTHORIZED; Authorization: Bearer is not a credential', async () => {
      for (const headers of [
        {},
        { 'x-api-key': 'ps_nope' },
        { 'x-api-key-id': 'key_nope' },
        { authorization: `Bearer ${t.tenantKey.key}` },
      ]) {
        const res = await t.app.inject({ url: '/v1/numbers', headers });
        assert.equal(res.statusCode, 401);
        assert.deepEqual(
          { error: res.json().error, code: res.json().code },
          { error: 'Unauthorized', code: 'UNAUTHORIZED' },
        );
      }
    });

    test("another tenant's number is 404 and cannot be regenerated or deleted", async () => {
      const now = new Date().toISOString();
      const key = issueKey('tenant_OTHER' as TenantId, null, now);
      await insertTenant(t.store.db, { id: 'tenant_OTHER' as TenantId, name: 'Other', createdAt: now });
      await insertApiKey(t.store.db, key.record);
      const headers = { 'x-api-key': key.key };
      assert.equal((await t.app.inject({ url: `/v1/numbers/${t.numberA.id}`, headers })).statusCode, 404);
      assert.equal(
        (await t.app.inject({ method: 'DELETE', url: `/v1/numbers/${t.numberA.id}`, headers })).statusCode,
        404,
      );
      assert.equal(
        (await t.app.inject({ method: 'POST', url: `/v1/api-keys/${t.numberA.id}/regenerate`, headers })).statusCode,
        404,
      );
      const list = await t.app.inject({ url: '/v1/numbers', headers });
      assert.deepEqual(list.json(), [], 'a bare array (Pilot), empty for another tenant');
    });

    test('API_KEY_ID_AUTH=false turns id authentication off', async () => {
      const strict = await buildTestApp(kind, { env: { API_KEY_ID_AUTH: 'false' } });
      try {
        assert.equal(
          (await strict.app.inject({ url: '/v1/numbers', headers: { 'x-api-key-id': strict.tenantKey.id } }))
            .statusCode,
          401,
        );
        assert.equal(
          (await strict.app.inject({ url: '/v1/numbers', headers: { 'x-api-key': strict.tenantKey.key } })).statusCode,
          200,
        );
      } finally {
        await strict.close();
      }
    });

    test('deleting a number removes it and its key stops working', async () => {
      const created = (await asTenant('POST', '/v1/numbers', { ...evoNumber, phoneNumber: '+5511977776666' })).json();
      const del = await asTenant('DELETE', `/v1/numbers/${created.number.id}`);
      assert.equal(del.statusCode, 200);
      assert.deepEqual(del.json(), { success: true, id: created.number.id });
      assert.equal((await asTenant('GET', `/v1/numbers/${created.number.id}`)).statusCode, 404);
      assert.equal(
        (await t.app.inject({ url: '/v1/calls', headers: { 'x-api-key': created.apiKey.key } })).statusCode,
        401,
      );
    });
  });

  describe(`deleting a META number with live calls [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    test('is refused with 409 NUMBER_HAS_LIVE_CALLS naming them, until they have ended', async () => {
      const number = t.numberA;
      const ringing = await ringingCall(t, number);
      const answered = await acceptedCall(t, number);
      const del = () =>
        t.app.inject({ method: 'DELETE', url: `/v1/numbers/${number.id}`, headers: { 'x-api-key': t.tenantKey.key } });
      const refused = await del();
      assert.equal(refused.statusCode, 409, refused.body);
      assert.equal(refused.json().code, 'NUMBER_HAS_LIVE_CALLS');
      assert.deepEqual(refused.json().details.liveCalls, [ringing.id, answered.id]);
      // Nothing was deleted: the calls go on, tracked, and the number's key still ends them.
      for (const call of [ringing, answered]) {
        assert.equal((await storedCall(t, number, call.id))?.status, call.status);
        assert.ok(!(await outbox(t, call)).some((e) => e.type === 'call.ended'));
        const end = await t.app.inject({
          method: 'POST',
          url: `/v1/calls/${call.id}/terminate`,
          headers: { 'x-api-key': number.key.key },
        });
        assert.equal(end.statusCode, 200, end.body);
      }
      const deleted = await del();
      assert.equal(deleted.statusCode, 200, deleted.body);
      assert.equal(
        (await t.app.inject({ url: `/v1/numbers/${number.id}`, headers: { 'x-api-key': t.tenantKey.key } })).statusCode,
        404,
      );
    });
  });

  describe(`deleting a number while a call is being placed on it [${kind}]`, () => {
    // The request has written its attempt and is about to ask the provider (or waits for its answer) when `pause`
    // holds it; `before` runs something just before the attempt is written (the number still read as there).
    const hook: { pause?: { reached: () => void; released: Promise<void> }; before?: () => Promise<void> } = {};
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, { wrapDb: (db) => aroundAttempts(db, hook) });
    });
    after(() => t.close());

    const terminateCount = () => t.fake.countRequests({ action: 'terminate' });
    const del = (id: string, query = '') =>
      t.app.inject({ method: 'DELETE', url: `/v1/numbers/${id}${query}`, headers: { 'x-api-key': t.tenantKey.key } });
    const place = (key: string, payload: object) =>
      t.app.inject({ method: 'POST', url: '/v1/calls', headers: { 'x-api-key': key }, payload });
    /** Starts `placing` and answers once its attempt is written; `release` lets it go on to the provider. */
    async function heldAtProvider(placing: () => ReturnType<typeof place>) {
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const reached = new Promise<void>((resolve) => {
        hook.pause = { reached: resolve, released };
      });
      const request = placing();
      const unheld = request.then((res) => {
        throw new Error(`the request wrote no attempt before it answered ${res.statusCode}`);
      });
      await Promise.race([reached, unheld]);
      unheld.catch(() => undefined);
      return { request, release };
    }

    test('the delete is refused (409, callsBeingPlaced), and the call, once stored, is named until it has ended', async () => {
      const number = await addMetaNumber(t);
      const peer = nextPeer();
      t.fake.grantPermission(number.phoneNumberId, peer, 'temporary');
      const { request, release } = await heldAtProvider(() =>
        place(number.key.key, { to: `+${peer}`, sdp: CANNED_ANSWER_SDP }),
      );
      const refused = await del(number.id);
      assert.equal(refused.statusCode, 409, refused.body);
      assert.equal(refused.json().code, 'NUMBER_HAS_LIVE_CALLS');
      assert.deepEqual(refused.json().details, { liveCalls: [], callsBeingPlaced: 1 });
      release();
      const placed = await request;
      assert.equal(placed.statusCode, 201, placed.body);
      const callId = JSON.parse(placed.body).id;
      const named = await del(number.id);
      assert.equal(named.statusCode, 409, named.body);
      assert.deepEqual(named.json().details, { liveCalls: [callId], callsBeingPlaced: 0 });
      const end = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${callId}/terminate`,
        headers: { 'x-api-key': number.key.key },
      });
      assert.equal(end.statusCode, 200, end.body);
      assert.equal((await del(number.id)).statusCode, 200);
    });

    test('on a web number too: its dial is a call being placed', async () => {
      const web = await addWebNumber(t, 'on');
      try {
        const { request, release } = await heldAtProvider(() => place(web.key.key, { to: `+${nextPeer()}` }));
        const refused = await del(web.id);
        assert.equal(refused.statusCode, 409, refused.body);
        assert.deepEqual(refused.json().details, { liveCalls: [], callsBeingPlaced: 1 });
        release();
        const placed = await request;
        assert.equal(placed.statusCode, 201, placed.body);
        assert.deepEqual((await del(web.id)).json().details, {
          liveCalls: [JSON.parse(placed.body).id],
          callsBeingPlaced: 0,
        });
      } finally {
        await web.fake.close();
      }
    });

    test('force=true deletes it: the call Meta placed meanwhile is hung up, its request a 401 (its key is gone)', async () => {
      const number = await addMetaNumber(t);
      const peer = nextPeer();
      t.fake.grantPermission(number.phoneNumberId, peer, 'temporary');
      const [connects, terminates] = [t.fake.countRequests({ action: 'connect' }), terminateCount()];
      const { request, release } = await heldAtProvider(() =>
        place(number.key.key, { to: `+${peer}`, sdp: CANNED_ANSWER_SDP }),
      );
      const deleted = await del(number.id, '?force=true');
      assert.equal(deleted.statusCode, 200, deleted.body);
      release();
      const placed = await request;
      assert.equal(placed.statusCode, 401, placed.body);
      assert.equal(placed.json().code, 'UNAUTHORIZED');
      assert.equal(t.fake.countRequests({ action: 'connect' }), connects + 1, 'Meta placed the call');
      assert.equal(terminateCount(), terminates + 1, 'the call Meta placed is hung up');
    });

    test('a request that read its number just before it was deleted places no call: a 401, not a 500', async () => {
      const number = await addMetaNumber(t);
      const peer = nextPeer();
      t.fake.grantPermission(number.phoneNumberId, peer, 'temporary');
      const connects = t.fake.countRequests({ action: 'connect' });
      hook.before = async () => {
        assert.equal((await del(number.id)).statusCode, 200);
      };
      const placed = await place(number.key.key, { to: `+${peer}`, sdp: CANNED_ANSWER_SDP });
      assert.equal(placed.statusCode, 401, placed.body);
      assert.equal(placed.json().code, 'UNAUTHORIZED');
      assert.equal(t.fake.countRequests({ action: 'connect' }), connects, 'Meta was never asked to place it');
    });

    test('a web number dialling longer than the sweep keeps attempts (EVOLUTION_DIAL_TIMEOUT_MS) is held all along', async () => {
      const clock = new ManualClock(Date.now());
      const own = await buildTestApp(kind, {
        clock,
        env: { EVOLUTION_DIAL_TIMEOUT_MS: '300000' },
        wrapDb: (db) => aroundAttempts(db, hook),
      });
      const web = await addWebNumber(own, 'on');
      try {
        const { request, release } = await heldAtProvider(() =>
          own.app.inject({
            method: 'POST',
            url: '/v1/calls',
            headers: { 'x-api-key': web.key.key },
            payload: { to: `+${nextPeer()}` },
          }),
        );
        // Past what the sweep keeps for a Meta call's unknown-call check, within the dial's own wait.
        clock.advance(240_000);
        await own.sweeper.sweepOnce();
        const refused = await own.app.inject({
          method: 'DELETE',
          url: `/v1/numbers/${web.id}`,
          headers: { 'x-api-key': own.tenantKey.key },
        });
        assert.equal(refused.statusCode, 409, refused.body);
        assert.deepEqual(refused.json().details, { liveCalls: [], callsBeingPlaced: 1 });
        release();
        assert.equal((await request).statusCode, 201);
      } finally {
        await web.fake.close();
        await own.close();
      }
    });

    test('an attempt older than a placement takes (its request died) does not hold the number', async () => {
      const number = await addMetaNumber(t);
      const placingMs = Math.max(t.config.providerTimeoutMs, t.config.evolutionDialTimeoutMs) + 10_000;
      await insertOutboundAttempt(t.store.db, number.id, new Date(Date.now() - placingMs - 1000).toISOString());
      assert.equal((await del(number.id)).statusCode, 200);
    });
  });

  describe(`deleting a META number whose calls cannot be ended [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    test('its token revoked, terminate fails: force=true deletes it all the same; force=false does not', async () => {
      const number = t.numberA;
      const answered = await acceptedCall(t, number);
      // Revoked at Meta: every request with the stored token is refused, terminate and the sweeper's end alike.
      t.fake.setAccessToken(number.phoneNumberId, 'EAAG-a-new-token');
      const end = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${answered.id}/terminate`,
        headers: { 'x-api-key': number.key.key },
      });
      assert.notEqual(end.statusCode, 200, end.body);
      assert.equal((await storedCall(t, number, answered.id))?.status, 'ACCEPTED', 'the call cannot be ended');
      const del = (query: string) =>
        t.app.inject({
          method: 'DELETE',
          url: `/v1/numbers/${number.id}${query}`,
          headers: { 'x-api-key': t.tenantKey.key },
        });
      for (const query of ['', '?force=false']) {
        const refused = await del(query);
        assert.equal(refused.statusCode, 409, refused.body);
        assert.deepEqual(refused.json().details.liveCalls, [answered.id]);
      }
      // A value it does not take, or the parameter twice, is a 400 that says what it takes; nothing is deleted.
      for (const query of ['?force=yes', '?force=true&force=true']) {
        const refused = await del(query);
        assert.equal(refused.statusCode, 400, refused.body);
        const messages = refused.json().details.issues.map((i: { message: string }) => i.message);
        assert.ok(messages.includes('must be "true"') && messages.includes('must be "false"'), refused.body);
      }
      assert.equal((await storedCall(t, number, answered.id))?.status, 'ACCEPTED');
      const deleted = await del('?force=true');
      assert.equal(deleted.statusCode, 200, deleted.body);
      assert.equal(
        (await t.app.inject({ url: `/v1/numbers/${number.id}`, headers: { 'x-api-key': t.tenantKey.key } })).statusCode,
        404,
      );
      const [left] = await t.store.db.query<{ n: number }>('SELECT COUNT(*) AS n FROM calls WHERE number_id = $1', [
        number.id,
      ]);
      assert.equal(Number(left?.n), 0, 'its calls went with it');
    });
  });

  describe(`numbers with EVOLUTION_ALLOWED_HOSTS [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, { env: { EVOLUTION_ALLOWED_HOSTS: 'evo.internal:8080' } });
    });
    after(() => t.close());

    const create = (baseUrl: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/numbers',
        headers: { 'x-api-key': t.tenantKey.key },
        payload: {
          name: 'Web',
          phoneNumber: '+5511988887777',
          provider: 'EVO_GO',
          evolution: { baseUrl, instanceId: '7c9e6679-7425-40de-944b-e07fc1f90ae7', instanceToken: 'evo-token' },
        },
      });

    test('a web number may name only a listed server: any other host or port is a 400, nothing stored', async () => {
      const numbers = async () =>
        (await t.app.inject({ method: 'GET', url: '/v1/numbers', headers: { 'x-api-key': t.tenantKey.key } })).json()
          .length;
      const before = await numbers();
      for (const baseUrl of [
        'http://evo.internal:9090',
        'http://evo.internal',
        'http://169.254.169.254/latest/meta-data',
        'http://127.0.0.1:6379',
        'http://evo.internal.attacker.example:8080',
      ]) {
        const res = await create(baseUrl);
        assert.equal(res.statusCode, 400, `${baseUrl}: ${res.body}`);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
        assert.equal(res.json().details.field, 'evolution.baseUrl');
        assert.match(res.json().details.reason, /not a server this callgate may reach \(EVOLUTION_ALLOWED_HOSTS\)/);
      }
      assert.equal(await numbers(), before);
      const ok = await create('http://EVO.internal:8080/');
      assert.equal(ok.statusCode, 201, ok.body);
      assert.equal(ok.json().number.evolution.baseUrl, 'http://EVO.internal:8080');
    });
  });
}

let metaNumbers = 0;

/** A META number of its own on the test app (Meta's fake knows it), so that a test may delete it. */
async function addMetaNumber(t: TestApp): Promise<{ id: NumberId; phoneNumberId: string; key: { key: string } }> {
  metaNumbers++;
  const phoneNumberId = `88000${metaNumbers}`;
  const display = `55114003${String(metaNumbers).padStart(4, '0')}`;
  const meta = {
    phoneNumberId,
    wabaId: '102290129340398',
    accessToken: `EAAG-del-${metaNumbers}`,
    appSecret: 'app-del',
  };
  t.fake.addNumber({ ...meta, displayPhoneNumber: display });
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/numbers',
    headers: { 'x-api-key': t.tenantKey.key },
    payload: { name: 'Deleted', phoneNumber: `+${display}`, provider: 'META', meta: { ...meta, verifyToken: 'vt' } },
  });
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json();
  return { id: body.number.id, phoneNumberId, key: body.apiKey };
}

/**
 * The store with a request's outbound attempt held: `hook.before` runs once just before the next attempt is written,
 * `hook.pause` holds the request once just after (the provider not asked yet), each cleared as it runs.
 */
function aroundAttempts(
  inner: Db,
  hook: { pause?: { reached: () => void; released: Promise<void> }; before?: () => Promise<void> },
): Db {
  return {
    dialect: inner.dialect,
    query: (sql, params) => inner.query(sql, params),
    async execute(sql, params, opts) {
      if (!sql.startsWith('INSERT INTO outbound_attempts')) {
        return inner.execute(sql, params, opts);
      }
      const { before, pause } = hook;
      delete hook.before;
      await before?.();
      const changed = await inner.execute(sql, params, opts);
      if (pause) {
        delete hook.pause;
        pause.reached();
        await pause.released;
      }
      return changed;
    },
    transaction: (fn) => inner.transaction(fn),
    close: () => inner.close(),
  };
}
