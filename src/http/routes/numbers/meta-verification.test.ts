// A META number is stored only once Graph shows its access token reaches its phone_number_id: no tenant can take
// another business's id first (docs/design.md "Numbers"; providers-meta §1.4 GET settings, §2 codes 190 and 100).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { LEVEL, logSink } from '../../../../test/helpers/log-sink.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { issueKey } from '../../../auth/keys.ts';
import { newTenantId } from '../../../ids.ts';
import { insertApiKey } from '../../../store/api-keys.ts';
import { findCallForNumber } from '../../../store/calls.ts';
import { insertTenant } from '../../../store/tenants.ts';

/** A business's number Meta knows, not registered in callgate yet. */
const OWNED = {
  phoneNumberId: '110200345567999',
  displayPhoneNumber: '551140049999',
  wabaId: '102290129349999',
  accessToken: 'EAAG-token-owner',
  appSecret: 'app-secret-owner',
};

function registration(accessToken: string, phoneNumberId = OWNED.phoneNumberId, appSecret = 'app-secret-squatter') {
  return {
    name: 'Support',
    phoneNumber: `+${OWNED.displayPhoneNumber}`,
    provider: 'META',
    meta: { phoneNumberId, wabaId: OWNED.wabaId, accessToken, appSecret, verifyToken: 'vt_owner' },
  };
}

for (const kind of storeKinds()) {
  describe(`META numbers are verified with Graph before they are stored [${kind}]`, () => {
    let t: TestApp;
    let squatterKey: string;
    const logs = logSink('warn');
    before(async () => {
      t = await buildTestApp(kind, { logger: logs.logger });
      t.fake.addNumber(OWNED);
      // Another tenant of the same callgate: the one that would squat.
      const tenantId = newTenantId();
      const issued = issueKey(tenantId, null, new Date().toISOString());
      await insertTenant(t.store.db, { id: tenantId, name: 'Squatter', createdAt: new Date().toISOString() });
      await insertApiKey(t.store.db, issued.record);
      squatterKey = issued.key;
    });
    after(() => t.close());

    const register = (key: string, payload: object, headers: Record<string, string> = {}) =>
      t.app.inject({ method: 'POST', url: '/v1/numbers', headers: { 'x-api-key': key, ...headers }, payload });
    const stored = async () => ({
      numbers: (await t.store.db.query<{ n: number }>('SELECT COUNT(*) AS n FROM numbers'))[0]?.n,
      keys: (await t.store.db.query<{ n: number }>('SELECT COUNT(*) AS n FROM api_keys'))[0]?.n,
    });
    const settingsReads = () => t.fake.requests.filter((r) => r.method === 'GET' && r.edge === 'settings');

    test('a token Meta does not take for that id is a 400 naming the token; nothing is stored', async () => {
      const before = await stored();
      // A token Meta does not know, and a real token of another business (numberA's): both 190 for this id.
      for (const token of ['EAAG-forged-token-123', 'EAAG-token-a']) {
        const res = await register(squatterKey, registration(token));
        assert.equal(res.statusCode, 400, res.body);
        const body = res.json();
        assert.equal(body.code, 'VALIDATION_ERROR');
        assert.equal(body.details.field, 'meta.accessToken');
        assert.equal(body.details.providerCode, 190);
        assert.match(body.details.reason, /Meta refused this access token/);
        assert.ok(!res.body.includes(token), 'the token is not echoed');
      }
      assert.deepEqual(await stored(), before);
      // The tenant's token, not callgate's credentials: nothing for the operator to fix (an error would page).
      assert.ok(logs.find(/verifyNumber failed: AUTH|meta refused request/).length >= 2, 'the refusals are logged');
      assert.deepEqual(
        logs.lines.filter((l) => l.level >= LEVEL.error),
        [],
      );
      assert.ok(!JSON.stringify(logs.lines).includes('EAAG-forged-token-123'), 'the token is not logged');
    });

    test('an id the token cannot reach is a 400 naming the phone_number_id; nothing is stored', async () => {
      const before = await stored();
      const res = await register(squatterKey, registration(OWNED.accessToken, '110200345560000'));
      assert.equal(res.statusCode, 400, res.body);
      const body = res.json();
      assert.equal(body.code, 'VALIDATION_ERROR');
      assert.equal(body.details.field, 'meta.phoneNumberId');
      assert.equal(body.details.providerCode, 100);
      assert.match(body.details.reason, /cannot reach phone_number_id 110200345560000/);
      assert.ok(!res.body.includes(OWNED.accessToken));
      assert.deepEqual(await stored(), before);
    });

    test('a token without the management permission is refused: it proves nothing about the number', async () => {
      const before = await stored();
      t.fake.inject({ path: 'settings', status: 403, error: { code: 200, message: '(#200) Permission denied' } });
      const res = await register(squatterKey, registration(OWNED.accessToken));
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().details.field, 'meta.accessToken');
      assert.match(res.json().details.reason, /whatsapp_business_management/);
      assert.deepEqual(await stored(), before);
    });

    test('a token no HTTP header can carry is a 400 naming it, not Graph unreachable; Graph is not asked', async () => {
      const before = await stored();
      const reads = settingsReads().length;
      // A pasted token with its line break, a header injection, a character outside Latin-1, an inner space.
      for (const token of [`${OWNED.accessToken}\n`, `${OWNED.accessToken}\r\nX-Evil: 1`, 'EAAG😀', 'EAAG token']) {
        const res = await register(squatterKey, registration(token));
        assert.equal(res.statusCode, 400, `${JSON.stringify(token)}: ${res.body}`);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
        assert.equal(res.json().details.field, 'meta.accessToken');
        assert.match(res.json().details.reason, /visible ASCII/);
      }
      assert.equal(settingsReads().length, reads);
      assert.deepEqual(await stored(), before);
    });

    test('Graph down, failing or silent is a 502 PROVIDER_UNAVAILABLE; nothing is stored', async () => {
      const before = await stored();
      // The read is retried once (providers-meta §1.1), so each failure is injected for both tries.
      for (const rule of [{ status: 503 }, { hang: true }, { reset: true }, { html: true }]) {
        t.fake.inject({ path: 'settings', times: 2, ...rule });
        const res = await register(squatterKey, registration(OWNED.accessToken), {
          'idempotency-key': `down-${JSON.stringify(rule)}`,
        });
        assert.equal(res.statusCode, 502, `${JSON.stringify(rule)}: ${res.body}`);
        assert.equal(res.json().code, 'PROVIDER_UNAVAILABLE');
        assert.ok(!res.body.includes(OWNED.accessToken));
      }
      t.fake.clearInjections();
      assert.deepEqual(await stored(), before);
    });

    test('the business that owns the id registers it, and Meta’s webhooks for it reach its number', async () => {
      const before = await stored();
      const reads = settingsReads().length;
      const res = await register(
        t.tenantKey.key,
        registration(OWNED.accessToken, OWNED.phoneNumberId, OWNED.appSecret),
      );
      assert.equal(res.statusCode, 201, res.body);
      const created = res.json();
      assert.equal(created.number.meta.phoneNumberId, OWNED.phoneNumberId);
      // Meta was asked once, with the token given, about that id.
      const asked = settingsReads().slice(reads);
      assert.equal(asked.length, 1);
      assert.equal(asked[0]?.phoneNumberId, OWNED.phoneNumberId);
      assert.equal(asked[0]?.headers.authorization, `Bearer ${OWNED.accessToken}`);
      const after = await stored();
      assert.equal(Number(after.numbers), Number(before.numbers) + 1);
      assert.equal(Number(after.keys), Number(before.keys) + 1);

      // The squatting this closes: the id is the owner's, and the squatter can take it neither before nor after.
      const squat = await register(squatterKey, registration('EAAG-forged-token-123'));
      assert.equal(squat.statusCode, 400, squat.body);
      const wacid = await t.fake.incomingCall({ phoneNumberId: OWNED.phoneNumberId, from: '5511987650001' });
      const call = await eventually(() => findCallForNumber(t.store.db, created.number.id, wacid), 3000, 'the call');
      assert.equal(call.status, 'RINGING');
    });
  });

  describe(`META_VERIFY_NUMBERS=false [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, { env: { META_VERIFY_NUMBERS: 'false' } });
    });
    after(() => t.close());

    test('registers a META number without asking Graph (an operator who trusts every tenant)', async () => {
      const reads = t.fake.requests.length;
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/numbers',
        headers: { 'x-api-key': t.tenantKey.key },
        payload: registration('EAAG-unknown-to-meta', '110200345560001'),
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(t.fake.requests.length, reads, 'Graph was not asked');
    });
  });
}
