// The heart of the product: POST /v1/calls/{callId}/terminate against the seed YAML, on every store.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type IssuedKey, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, outbox, storedCall } from '../../../../test/helpers/calls.ts';
import { assertMatchesSeed, seedErrorCode, seedErrorText } from '../../../../test/helpers/seed-spec.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import type { Call, CallStatus } from '../../../model/call.ts';

type KeyKind = 'number key' | 'tenant key' | "another number's key" | 'missing key' | 'revoked key';
const STATES: CallStatus[] = ['RINGING', 'ACCEPTED', 'COMPLETED', 'FAILED', 'REJECTED', 'MISSED'];
const KEYS: KeyKind[] = ['number key', 'tenant key', "another number's key", 'missing key', 'revoked key'];
const ID_FORMS = ['call_ id', 'wacid'] as const;

for (const kind of storeKinds()) {
  describe(`terminate [${kind}]`, () => {
    let t: TestApp;
    let revoked: IssuedKey;

    before(async () => {
      t = await buildTestApp(kind);
      // Regenerate number A's key: the old one is the "revoked" key of the table.
      revoked = t.numberA.key;
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/api-keys/${t.numberA.id}/regenerate`,
        headers: { 'x-api-key': t.tenantKey.key },
      });
      assert.equal(res.statusCode, 200);
      t.numberA.key = res.json().apiKey;
    });
    after(() => t.close());

    function headersFor(key: KeyKind): Record<string, string> {
      switch (key) {
        case 'number key':
          return { 'x-api-key': t.numberA.key.key };
        case 'tenant key':
          return { 'x-api-key': t.tenantKey.key };
        case "another number's key":
          return { 'x-api-key': t.numberB.key.key };
        case 'missing key':
          return {};
        case 'revoked key':
          return { 'x-api-key': revoked.key };
      }
    }

    function endingRequests(call: Call): number {
      return (
        t.fake.countRequests({ action: 'reject', call_id: call.externalCallId }) +
        t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId })
      );
    }

    for (const state of STATES) {
      for (const idForm of ID_FORMS) {
        for (const key of KEYS) {
          test(`${state} call, ${idForm}, ${key}`, async () => {
            const call = await callIn(t, state);
            const eventsBefore = await outbox(t, call);
            const requestsBefore = endingRequests(call);
            const id = idForm === 'wacid' ? call.externalCallId : call.id;

            const res = await t.app.inject({
              method: 'POST',
              url: `/v1/calls/${encodeURIComponent(id)}/terminate`,
              headers: headersFor(key),
            });
            const body = res.json();
            const after = (await storedCall(t, t.numberA, call.id))!;
            const events = await outbox(t, after);
            assert.ok(res.headers['x-request-id'], 'every response carries x-request-id');

            if (key !== 'number key') {
              const expected = {
                'tenant key': [403, { error: seedErrorText(403), code: seedErrorCode(403) }],
                "another number's key": [404, { error: 'Call not found', code: 'CALL_NOT_FOUND' }],
                'missing key': [401, { error: seedErrorText(401), code: 'UNAUTHORIZED' }],
                'revoked key': [401, { error: seedErrorText(401), code: 'UNAUTHORIZED' }],
              }[key] as [number, Record<string, string>];
              assert.equal(res.statusCode, expected[0], res.body);
              assert.deepEqual({ error: body.error, code: body.code }, expected[1]);
              if (expected[0] !== 404) {
                assertMatchesSeed(expected[0], body);
              }
              assert.equal(endingRequests(call), requestsBefore, 'nothing sent to Meta');
              assert.equal(after.status, call.status, 'call unchanged');
              assert.equal(events.length, eventsBefore.length, 'no event recorded');
              return;
            }

            assert.equal(res.statusCode, 200, res.body);
            assertMatchesSeed(200, body);
            if (state === 'RINGING' || state === 'ACCEPTED') {
              assert.deepEqual(body, { success: true, id: call.id, status: 'COMPLETED' });
              const action = state === 'RINGING' ? 'reject' : 'terminate';
              assert.equal(t.fake.countRequests({ action, call_id: call.externalCallId }), 1, `one ${action} at Meta`);
              assert.equal(endingRequests(call), requestsBefore + 1);
              assert.equal(after.status, 'COMPLETED');
              assert.equal(after.endedBy, 'BUSINESS');
              assert.ok(after.endedAt);
              if (state === 'ACCEPTED') {
                assert.equal(typeof after.durationSeconds, 'number');
              } else {
                assert.equal(after.durationSeconds, null);
              }
              const ended = events.filter((e) => e.type === 'call.ended');
              assert.equal(ended.length, 1, 'exactly one call.ended');
              assert.equal(events.length, eventsBefore.length + 1);
              assert.equal(ended[0]!.payload.status, 'COMPLETED');
              assert.equal(ended[0]!.payload.endedBy, 'BUSINESS');
              assert.equal(ended[0]!.payload.sequence, eventsBefore.length + 1);
            } else {
              assert.deepEqual(body, { success: true, id: call.id, status: state, alreadyEnded: true });
              assert.equal(endingRequests(call), requestsBefore, 'nothing sent to Meta');
              assert.equal(after.status, state);
              assert.equal(events.length, eventsBefore.length, 'no second call.ended');
              assert.equal(events.filter((e) => e.type === 'call.ended').length, 1);
            }
          });
        }
      }
    }

    // The seed YAML's security takes x-api-key-id as well as x-api-key, and its 401 and 403 name both headers.
    test("x-api-key-id: the number's key id terminates; the tenant's is the seed's 403, an unknown one its 401", async () => {
      const call = await callIn(t, 'ACCEPTED');
      const byId = (id: string) =>
        t.app.inject({ method: 'POST', url: `/v1/calls/${call.id}/terminate`, headers: { 'x-api-key-id': id } });

      const tenant = await byId(t.tenantKey.id);
      assert.equal(tenant.statusCode, 403, tenant.body);
      assertMatchesSeed(403, tenant.json());
      assert.deepEqual(
        { error: tenant.json().error, code: tenant.json().code },
        { error: seedErrorText(403), code: seedErrorCode(403) },
      );
      for (const id of [revoked.id, 'key_unknown0000000000000000000000']) {
        const unknown = await byId(id);
        assert.equal(unknown.statusCode, 401, unknown.body);
        assertMatchesSeed(401, unknown.json());
        assert.deepEqual(
          { error: unknown.json().error, code: unknown.json().code },
          { error: seedErrorText(401), code: 'UNAUTHORIZED' },
        );
      }
      assert.equal((await storedCall(t, t.numberA, call.id))?.status, 'ACCEPTED', 'refused: call unchanged');

      const res = await byId(t.numberA.key.id);
      assert.equal(res.statusCode, 200, res.body);
      assertMatchesSeed(200, res.json());
      assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
    });

    test('an unknown call is 404 CALL_NOT_FOUND and nothing is sent', async () => {
      const before = t.fake.requests.length;
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/calls/call_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P/terminate',
        headers: headersFor('number key'),
      });
      assert.equal(res.statusCode, 404);
      assert.equal(res.json().code, 'CALL_NOT_FOUND');
      assert.equal(t.fake.requests.length, before);
    });

    test('a body, even malformed, is never parsed', async () => {
      const call = await callIn(t, 'ACCEPTED');
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/terminate`,
        headers: { ...headersFor('number key'), 'content-type': 'application/json' },
        payload: '{"not json',
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().status, 'COMPLETED');
    });

    for (const contentType of ['json', '!!!', 'application/', ';']) {
      test(`a Content-Type that is not a media type (${contentType}) is ignored like the body`, async () => {
        const call = await callIn(t, 'ACCEPTED');
        const res = await t.app.inject({
          method: 'POST',
          url: `/v1/calls/${call.id}/terminate`,
          headers: { ...headersFor('number key'), 'content-type': contentType },
          payload: '{}',
        });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json().status, 'COMPLETED');
      });
    }

    for (const bad of ['a b', 'x'.repeat(257), 'call_<script>', '%00', 'ab%', '..%5C']) {
      test(`a malformed id (${bad.slice(0, 20)}) is 400 VALIDATION_ERROR with the seed's text`, async () => {
        const res = await t.app.inject({
          method: 'POST',
          url: `/v1/calls/${encodeURIComponent(bad)}/terminate`,
          headers: headersFor('number key'),
        });
        assert.equal(res.statusCode, 400, res.body);
        const body = res.json();
        assertMatchesSeed(400, body);
        assert.equal(body.error, seedErrorText(400));
        assert.equal(body.code, 'VALIDATION_ERROR');
      });
    }

    test('an id of 100,000 characters is a short 400: the reason names the problem, not the whole id', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${'x'.repeat(100_000)}/terminate`,
        headers: headersFor('number key'),
      });
      assert.equal(res.statusCode, 400);
      assert.ok(res.body.length < 1_000, `${res.body.length} bytes`);
      assert.match(res.json().details.reason, /max param length/);
    });
  });
}
