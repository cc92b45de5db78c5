import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook, WebhookVerificationError } from '../../test/helpers/verify-webhook.ts';
import { generateWebhookSecret, signPayload } from './signing.ts';

const body = JSON.stringify({ event: 'call.ended', eventId: 'evt_1', sequence: 4, peerNumber: '5511999999999' });
const msgId = 'evt_1';

function headersFor(signature: string, timestampSec: number): Record<string, string> {
  return { 'webhook-id': msgId, 'webhook-timestamp': String(timestampSec), 'webhook-signature': signature };
}

// The published library checks against the real clock, so signatures it verifies use it too.
const nowSec = () => Math.floor(Date.now() / 1000);

describe('generateWebhookSecret', () => {
  test('is whsec_ followed by base64 of 32 random bytes, different every time', () => {
    const a = generateWebhookSecret();
    const b = generateWebhookSecret();
    assert.match(a, /^whsec_[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(Buffer.from(a.slice('whsec_'.length), 'base64').length, 32);
    assert.notEqual(a, b);
  });
});

describe('signPayload and verifyWebhook', () => {
  test('a signed delivery verifies and returns the parsed body', () => {
    const secret = generateWebhookSecret();
    const ts = 1_780_000_000;
    const headers = headersFor(signPayload([secret], msgId, ts, body), ts);
    assert.deepEqual(verifyWebhook(body, headers, secret, { nowSec: ts + 10 }), JSON.parse(body));
  });

  test('the signature is v1,<base64 HMAC-SHA256> keyed with the decoded secret bytes', () => {
    // Fixed vector: key bytes 0x00..0x1f, so a regression to keying with the string itself shows up.
    const secret = `whsec_${Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('base64')}`;
    const sig = signPayload([secret], 'msg_1', 1_700_000_000, '{"a":1}');
    assert.match(sig, /^v1,[A-Za-z0-9+/]{43}=$/);
    assert.equal(sig, new Webhook(secret).sign('msg_1', new Date(1_700_000_000_000), '{"a":1}'));
  });

  test('header names are matched case-insensitively and array values are accepted', () => {
    const secret = generateWebhookSecret();
    const ts = 1_780_000_000;
    const headers = {
      'Webhook-Id': msgId,
      'WEBHOOK-TIMESTAMP': [String(ts)],
      'Webhook-Signature': ['v1,bm90IGl0', signPayload([secret], msgId, ts, body)],
    };
    assert.deepEqual(verifyWebhook(body, headers, secret, { nowSec: ts }), JSON.parse(body));
  });

  test('during rotation each secret alone verifies the two-signature header', () => {
    const oldSecret = generateWebhookSecret();
    const newSecret = generateWebhookSecret();
    const ts = 1_780_000_000;
    const signature = signPayload([newSecret, oldSecret], msgId, ts, body);
    assert.equal(signature.split(' ').length, 2);
    for (const secret of [oldSecret, newSecret]) {
      assert.deepEqual(verifyWebhook(body, headersFor(signature, ts), secret, { nowSec: ts }), JSON.parse(body));
    }
  });

  const rejections: {
    name: string;
    mutate: (h: Record<string, string>) => { body?: string; secret?: string; nowSec?: number };
  }[] = [
    { name: 'a tampered body', mutate: () => ({ body: body.replace('call.ended', 'call.missed') }) },
    { name: 'a timestamp older than five minutes', mutate: () => ({ nowSec: 1_780_000_000 + 301 }) },
    { name: 'a timestamp more than five minutes ahead', mutate: () => ({ nowSec: 1_780_000_000 - 301 }) },
    { name: 'the wrong secret', mutate: () => ({ secret: generateWebhookSecret() }) },
    {
      name: 'a changed webhook-id',
      mutate: (h) => {
        h['webhook-id'] = 'evt_2';
        return {};
      },
    },
    {
      name: 'a changed timestamp header',
      mutate: (h) => {
        h['webhook-timestamp'] = '1780000001';
        return {};
      },
    },
    {
      name: 'a missing signature header',
      mutate: (h) => {
        delete h['webhook-signature'];
        return {};
      },
    },
    {
      name: 'a non-numeric timestamp',
      mutate: (h) => {
        h['webhook-timestamp'] = '17e8';
        return {};
      },
    },
    {
      name: 'an unknown signature version',
      mutate: (h) => {
        h['webhook-signature'] = h['webhook-signature']!.replace('v1,', 'v2,');
        return {};
      },
    },
  ];
  for (const { name, mutate } of rejections) {
    test(`${name} is rejected with WebhookVerificationError`, () => {
      const secret = generateWebhookSecret();
      const ts = 1_780_000_000;
      const headers = headersFor(signPayload([secret], msgId, ts, body), ts);
      const change = mutate(headers);
      assert.throws(
        () => verifyWebhook(change.body ?? body, headers, change.secret ?? secret, { nowSec: change.nowSec ?? ts }),
        WebhookVerificationError,
      );
    });
  }

  test('a custom tolerance widens the accepted window', () => {
    const secret = generateWebhookSecret();
    const ts = 1_780_000_000;
    const headers = headersFor(signPayload([secret], msgId, ts, body), ts);
    assert.doesNotThrow(() => verifyWebhook(body, headers, secret, { nowSec: ts + 600, toleranceSeconds: 900 }));
  });
});

describe('a published Standard Webhooks verifier (npm standardwebhooks)', () => {
  test('accepts our signature with one secret', () => {
    const secret = generateWebhookSecret();
    const ts = nowSec();
    const headers = headersFor(signPayload([secret], msgId, ts, body), ts);
    assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
  });

  test('accepts our rotation header with either the old or the new secret alone', () => {
    const oldSecret = generateWebhookSecret();
    const newSecret = generateWebhookSecret();
    const ts = nowSec();
    const headers = headersFor(signPayload([newSecret, oldSecret], msgId, ts, body), ts);
    assert.deepEqual(new Webhook(oldSecret).verify(body, headers), JSON.parse(body));
    assert.deepEqual(new Webhook(newSecret).verify(body, headers), JSON.parse(body));
    assert.throws(() => new Webhook(generateWebhookSecret()).verify(body, headers));
  });

  test('rejects our signature over a tampered body', () => {
    const secret = generateWebhookSecret();
    const ts = nowSec();
    const headers = headersFor(signPayload([secret], msgId, ts, body), ts);
    assert.throws(() => new Webhook(secret).verify(`${body} `, headers));
  });

  test('signs payloads with non-ASCII text the same way we do', () => {
    const secret = generateWebhookSecret();
    const ts = nowSec();
    const text = JSON.stringify({ name: 'João — 📞' });
    const headers = headersFor(signPayload([secret], msgId, ts, text), ts);
    assert.deepEqual(new Webhook(secret).verify(text, headers), { name: 'João — 📞' });
    // And the other direction: their signature passes our verifier.
    const theirs = new Webhook(secret).sign(msgId, new Date(ts * 1000), text);
    assert.deepEqual(verifyWebhook(text, headersFor(theirs, ts), secret), { name: 'João — 📞' });
  });
});
