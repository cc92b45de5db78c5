// Nothing malformed gets a 500, crashes the process, or changes stored state.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../test/helpers/build-test-app.ts';
import { callIn, storedCall } from '../../test/helpers/calls.ts';
import { countEventsForNumber } from '../../test/helpers/store-reads.ts';
import { storeKinds } from '../../test/helpers/stores.ts';
import { listNumbersForTenant } from '../store/numbers.ts';

for (const kind of storeKinds()) {
  describe(`malformed input [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    const snapshot = async () => ({
      numbers: (await listNumbersForTenant(t.store.db, t.tenantId)).length,
      events: await countEventsForNumber(t.store.db, t.numberA.id),
    });

    const tenant = () => ({ 'x-api-key': t.tenantKey.key });
    const number = () => ({ 'x-api-key': t.numberA.key.key });
    type Case = {
      name: string;
      method: 'GET' | 'POST' | 'DELETE';
      url: string;
      headers?: () => Record<string, string>;
      payload?: string;
      contentType?: string;
      status: number;
      code: string;
    };
    const json = 'application/json';
    const cases: Case[] = [
      {
        name: 'numbers: bad JSON',
        method: 'POST',
        url: '/v1/numbers',
        headers: tenant,
        payload: '{"name":',
        contentType: json,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'numbers: JSON array',
        method: 'POST',
        url: '/v1/numbers',
        headers: tenant,
        payload: '[]',
        contentType: json,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'numbers: wrong types',
        method: 'POST',
        url: '/v1/numbers',
        headers: tenant,
        payload: '{"name":1,"phoneNumber":true,"provider":"META"}',
        contentType: json,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'numbers: not E.164',
        method: 'POST',
        url: '/v1/numbers',
        headers: tenant,
        payload: JSON.stringify({
          name: 'x',
          phoneNumber: '11 9999',
          provider: 'META',
          meta: { phoneNumberId: '1', accessToken: 'a', appSecret: 'b', verifyToken: 'c' },
        }),
        contentType: json,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'numbers: META without meta config',
        method: 'POST',
        url: '/v1/numbers',
        headers: tenant,
        payload: JSON.stringify({ name: 'x', phoneNumber: '+5511999999999', provider: 'META' }),
        contentType: json,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'numbers: unknown provider',
        method: 'POST',
        url: '/v1/numbers',
        headers: tenant,
        payload: JSON.stringify({ name: 'x', phoneNumber: '+5511999999999', provider: 'SKYPE' }),
        contentType: json,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'numbers: extra fields',
        method: 'POST',
        url: '/v1/numbers',
        headers: tenant,
        payload: JSON.stringify({ name: 'x', phoneNumber: '+5511999999999', provider: 'META', admin: true }),
        contentType: json,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'numbers: deeply nested JSON',
        method: 'POST',
        url: '/v1/numbers',
        headers: tenant,
        payload: '['.repeat(5000) + ']'.repeat(5000),
        contentType: json,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'numbers: huge body',
        method: 'POST',
        url: '/v1/numbers',
        headers: tenant,
        payload: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
        contentType: json,
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      {
        name: 'numbers: text/plain body',
        method: 'POST',
        url: '/v1/numbers',
        headers: tenant,
        payload: 'hello',
        contentType: 'text/plain',
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
      },
      {
        name: 'numbers: __proto__ pollution',
        method: 'POST',
        url: '/v1/numbers',
        headers: tenant,
        payload: '{"__proto__":{"admin":true},"name":"x"}',
        contentType: json,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'number id with odd characters',
        method: 'GET',
        url: '/v1/numbers/%27%20OR%201%3D1',
        headers: tenant,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'calls list: limit 0',
        method: 'GET',
        url: '/v1/calls?limit=0',
        headers: number,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'calls list: limit 101',
        method: 'GET',
        url: '/v1/calls?limit=101',
        headers: number,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'calls list: limit text',
        method: 'GET',
        url: '/v1/calls?limit=ten',
        headers: number,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'calls list: before not a date',
        method: 'GET',
        url: '/v1/calls?before=yesterday',
        headers: number,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'call id with a space',
        method: 'GET',
        url: '/v1/calls/a%20b',
        headers: number,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'call id with bad percent-encoding',
        method: 'GET',
        url: '/v1/calls/%E0%A4%A',
        headers: number,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'call id of 300 chars',
        method: 'POST',
        url: `/v1/calls/${'a'.repeat(300)}/terminate`,
        headers: number,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'accept: bad JSON',
        method: 'POST',
        url: '/v1/calls/call_x/accept',
        headers: number,
        payload: '{"sdp"',
        contentType: json,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      {
        name: 'accept: sdp not a string',
        method: 'POST',
        url: '/v1/calls/call_x/accept',
        headers: number,
        payload: '{"sdp":42}',
        contentType: json,
        status: 400,
        code: 'VALIDATION_ERROR',
      },
      { name: 'unknown route', method: 'GET', url: '/v1/nothing', headers: number, status: 404, code: 'NOT_FOUND' },
      {
        name: 'meta webhook: huge body',
        method: 'POST',
        url: '/providers/meta/webhook',
        payload: 'x'.repeat(5 * 1024 * 1024),
        contentType: json,
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      {
        name: 'meta webhook: unsigned garbage',
        method: 'POST',
        url: '/providers/meta/webhook',
        payload: '\u0000\u0001',
        contentType: 'application/octet-stream',
        status: 401,
        code: 'UNAUTHORIZED',
      },
      {
        name: 'api key header absurdly long',
        method: 'GET',
        url: '/v1/calls',
        headers: () => ({ 'x-api-key': `ps_${'a'.repeat(10_000)}` }),
        status: 401,
        code: 'UNAUTHORIZED',
      },
    ];

    for (const c of cases) {
      test(`${c.name} → ${c.status} ${c.code}, nothing stored`, async () => {
        const before = await snapshot();
        const res = await t.app.inject({
          method: c.method,
          url: c.url,
          payload: c.payload,
          headers: { ...(c.headers?.() ?? {}), ...(c.contentType ? { 'content-type': c.contentType } : {}) },
        });
        assert.equal(res.statusCode, c.status, res.body);
        const body = res.json();
        assert.equal(body.code, c.code);
        assert.equal(typeof body.error, 'string');
        assert.equal(typeof body.requestId, 'string');
        assert.doesNotMatch(res.body, /at .*\.ts:\d+/, 'no stack trace');
        assert.deepEqual(await snapshot(), before);
      });
    }

    test('a malformed accept leaves a ringing call ringing', async () => {
      const call = await callIn(t, 'RINGING');
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/accept`,
        headers: { ...number(), 'content-type': json },
        payload: '{"sdp":',
      });
      assert.equal(res.statusCode, 400);
      assert.equal((await storedCall(t, t.numberA, call.id))?.status, 'RINGING');
    });

    test('a string holding a NUL (PostgreSQL stores none) is a 400 before anything is done', async () => {
      const call = await callIn(t, 'RINGING');
      const before = await snapshot();
      const nul = (fields: string) => `{${fields}}`;
      for (const [url, payload] of [
        [`/v1/calls/${call.id}/accept`, nul('"sdp":"v=0\\r\\na=x\\u0000\\r\\n"')],
        ['/v1/calls', nul('"to":"+5511987654321","sdp":"v=0\\r\\n","bizOpaqueCallbackData":"a\\u0000b"')],
        ['/v1/calls', nul('"to":"+5511987654321","sdp":"v=0\\r\\n","extra":{"\\u0000":[1]}')],
      ] as const) {
        const res = await t.app.inject({
          method: 'POST',
          url,
          headers: { ...number(), 'content-type': json },
          payload,
        });
        assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
      }
      assert.equal((await storedCall(t, t.numberA, call.id))?.status, 'RINGING');
      assert.equal(t.fake.countRequests({ action: 'accept', call_id: call.externalCallId }), 0, 'nothing sent to Meta');
      assert.deepEqual(await snapshot(), before);
      // An escaped backslash before "u0000" is no NUL: the string is taken as it is.
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/accept`,
        headers: { ...number(), 'content-type': json },
        payload: nul('"sdp":"v=0\\r\\na=x:\\\\u0000\\r\\n"'),
      });
      assert.notEqual(res.statusCode, 500, res.body);
      assert.notEqual(res.json().code, 'VALIDATION_ERROR', res.body);
    });

    test('a body nested past any schema (voicemail takes any JSON) is a 400, on META and SANDBOX numbers alike', async () => {
      const sandbox = await t.app.inject({
        method: 'POST',
        url: '/v1/numbers',
        headers: { ...tenant(), 'content-type': json },
        payload: '{"provider":"SANDBOX","name":"Deep"}',
      });
      assert.equal(sandbox.statusCode, 201, sandbox.body);
      const settingsOf = async (key: string) =>
        (await t.app.inject({ url: '/v1/calls/settings', headers: { 'x-api-key': key } })).body;
      for (const key of [t.numberA.key.key, sandbox.json().apiKey.key]) {
        const before = await settingsOf(key);
        for (const n of [100, 5000, 100_000]) {
          for (const payload of [
            `{"voicemail":${'['.repeat(n)}${']'.repeat(n)}}`,
            `{"calling":{"voicemail":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}}`,
          ]) {
            const res = await t.app.inject({
              method: 'PUT',
              url: '/v1/calls/settings',
              headers: { 'x-api-key': key, 'content-type': json },
              payload,
            });
            assert.equal(res.statusCode, 400, `${n} levels: ${res.body.slice(0, 200)}`);
            assert.equal(res.json().code, 'VALIDATION_ERROR');
            assert.match(res.json().details.reason, /nested/);
          }
        }
        assert.equal(await settingsOf(key), before, 'the settings are as they were');
      }
      // A voicemail object as Meta documents it is still taken (the sandbox keeps it as Meta would).
      const shallow = await t.app.inject({
        method: 'PUT',
        url: '/v1/calls/settings',
        headers: { 'x-api-key': sandbox.json().apiKey.key, 'content-type': json },
        payload: '{"calling":{"voicemail":{"status":"ENABLED","settings":{"greeting":{"type":"DEFAULT"}}}}}',
      });
      assert.equal(shallow.statusCode, 200, shallow.body);
    });

    test('a JSON body is read in the charset it names; one no decoder knows is a 415, nothing stored', async () => {
      const post = (contentType: string, payload: Buffer) =>
        t.app.inject({
          method: 'POST',
          url: '/v1/numbers',
          headers: { ...tenant(), 'content-type': contentType },
          payload,
        });
      const body = (name: string) => `{"provider":"SANDBOX","name":"${name}"}`;
      // Before, every body was read as UTF-8: UTF-16 was "not valid JSON", a latin1 "é" was stored as U+FFFD.
      for (const [contentType, name, payload] of [
        ['application/json; charset=utf-16', 'Café UTF-16', Buffer.from(`\ufeff${body('Café UTF-16')}`, 'utf16le')],
        ['application/json; charset=UTF-16LE', 'Café UTF-16LE', Buffer.from(body('Café UTF-16LE'), 'utf16le')],
        ['application/json; charset=latin1', 'Café latin1', Buffer.from(body('Café latin1'), 'latin1')],
        ['application/json;charset="ISO-8859-1"', 'Café 8859', Buffer.from(body('Café 8859'), 'latin1')],
        ['application/json; foo=bar; charset=windows-1252', 'Café 1252', Buffer.from(body('Café 1252'), 'latin1')],
        ['application/json; charset=us-ascii', 'Plain ASCII', Buffer.from(body('Plain ASCII'))],
        ['application/json', 'Café default', Buffer.from(body('Café default'))],
        ['application/json; charset=utf-8', 'Café utf-8', Buffer.from(body('Café utf-8'))],
        ['application/json; charset=utf8', 'Café utf8', Buffer.from(body('Café utf8'))],
        ['Application/JSON ; Charset = "Utf-8"', 'Café quoted', Buffer.from(body('Café quoted'))],
      ] as const) {
        const res = await post(contentType, payload);
        assert.equal(res.statusCode, 201, `${contentType}: ${res.body}`);
        assert.equal(res.json().number.name, name, contentType);
      }
      const before = await snapshot();
      for (const contentType of ['application/json; charset=klingon', 'application/json; charset=""']) {
        const res = await post(contentType, Buffer.from(body('Unread')));
        assert.equal(res.statusCode, 415, `${contentType}: ${res.body}`);
        assert.equal(res.json().code, 'UNSUPPORTED_MEDIA_TYPE', contentType);
        assert.match(res.json().details.reason, /send UTF-8/, contentType);
        assert.equal(typeof res.json().requestId, 'string');
      }
      assert.deepEqual(await snapshot(), before);
    });

    test('a client request id is echoed when sane and replaced when not', async () => {
      const sane = await t.app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
      assert.equal(sane.headers['x-request-id'], 'abc-123');
      const insane = await t.app.inject({ url: '/healthz', headers: { 'x-request-id': '<script>' } });
      assert.match(String(insane.headers['x-request-id']), /^req_/);
    });
  });
}
