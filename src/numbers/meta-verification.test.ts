// What a tenant registering a META number is told for each answer of Graph's check (docs/design.md "Numbers").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { failure } from '../providers/types.ts';
import { metaVerificationRefusal } from './meta-verification.ts';

const ID = '110200345567891';

test('a refused token, and a token without the permission to read the number, are 400s on meta.accessToken', () => {
  for (const [code, status, pattern] of [
    [190, 401, /Meta refused this access token/],
    [null, 401, /Meta refused this access token/],
    [10, 403, /whatsapp_business_management/],
    [200, 403, /whatsapp_business_management/],
    [299, 403, /whatsapp_business_management/],
  ] as const) {
    const refusal = metaVerificationRefusal(failure('AUTH', '(#x) whatever', code, { httpStatus: status }), ID);
    assert.equal(refusal.status, 400, String(code));
    assert.equal(refusal.code, 'VALIDATION_ERROR');
    assert.equal(refusal.details?.field, 'meta.accessToken');
    if (code === null) {
      // Graph gave no code (a 401 without its error body): left out, not null.
      assert.equal(Object.hasOwn(refusal.details ?? {}, 'providerCode'), false);
    } else {
      assert.equal(refusal.details?.providerCode, code);
    }
    assert.match(String(refusal.details?.reason), pattern);
  }
});

test('an object Graph cannot load with the token is a 400 on meta.phoneNumberId, naming the id', () => {
  const refusal = metaVerificationRefusal(failure('INVALID_REQUEST', '(#100) Unsupported get request', 100), ID);
  assert.equal(refusal.status, 400);
  assert.equal(refusal.details?.field, 'meta.phoneNumberId');
  assert.match(String(refusal.details?.reason), new RegExp(`cannot reach phone_number_id ${ID}`));
});

test('Graph down is a 502 PROVIDER_UNAVAILABLE; its other refusals keep the usual mapping', () => {
  const down = metaVerificationRefusal(failure('PROVIDER_DOWN', 'Meta answered HTTP 503'), ID);
  assert.equal(down.code, 'PROVIDER_UNAVAILABLE');
  assert.deepEqual(down.details, { providerMessage: 'Meta answered HTTP 503' }, 'no null providerCode');
  const limited = metaVerificationRefusal(failure('RATE_LIMITED', '(#4) Application request limit reached', 4), ID);
  assert.equal(limited.code, 'RATE_LIMITED');
  assert.ok(Number(limited.headers?.['retry-after']) > 0);
  const blocked = metaVerificationRefusal(failure('CONFIG', '(#368) Temporarily blocked', 368), ID);
  assert.equal(blocked.code, 'PROVIDER_ERROR');
  assert.equal(blocked.status, 502);
});
