// verifyWebhook (WebCrypto) against the server's signer (node:crypto) and the npm standardwebhooks library,
// both ways, and on a real delivery from a server process.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret, signPayload } from '../../../src/webhooks/signing.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../../test/fakes/webhook-receiver.ts';
import { type LiveServer, startLiveServer } from '../../../test/helpers/live-server.ts';
import { verifyWebhook as serverVerify } from '../../../test/helpers/verify-webhook.ts';
import { Callgate, verifyWebhook, WebhookVerificationError } from '../src/index.ts';

const body = JSON.stringify({
  event: 'call.ended',
  eventId: 'evt_01TEST',
  sequence: 3,
  id: 'call_1',
  peerNumber: '5511999999999',
  note: 'João — 📞',
});
const nowSec = () => Math.floor(Date.now() / 1000);
const headersFor = (id: string, ts: number, signature: string) => ({
  'webhook-id': id,
  'webhook-timestamp': String(ts),
  'webhook-signature': signature,
});

describe('verifyWebhook against other Standard Webhooks implementations', () => {
  test('accepts what the server signs, and standardwebhooks accepts the same inputs', async () => {
    const secret = generateWebhookSecret();
    const ts = nowSec();
    const headers = headersFor('evt_01TEST', ts, signPayload([secret], 'evt_01TEST', ts, body));
    assert.deepEqual(await verifyWebhook(body, headers, secret), JSON.parse(body));
    assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
  });

  test("accepts what standardwebhooks signs, and the server's verifier accepts the same inputs", async () => {
    const secret = generateWebhookSecret();
    const ts = nowSec();
    const headers = headersFor('msg_2', ts, new Webhook(secret).sign('msg_2', new Date(ts * 1000), body));
    assert.deepEqual(await verifyWebhook(body, headers, secret), JSON.parse(body));
    assert.deepEqual(serverVerify(body, headers, secret), JSON.parse(body));
  });

  test('takes the body as bytes and the headers as a fetch Headers object', async () => {
    const secret = generateWebhookSecret();
    const ts = nowSec();
    const headers = new Headers(headersFor('evt_b', ts, signPayload([secret], 'evt_b', ts, body)));
    assert.deepEqual(await verifyWebhook(new TextEncoder().encode(body), headers, secret), JSON.parse(body));
    assert.deepEqual(await verifyWebhook(new TextEncoder().encode(body).buffer, headers, secret), JSON.parse(body));
  });

  test("takes a Headers that is not the global class (a fetch polyfill's, another realm's)", async () => {
    const secret = generateWebhookSecret();
    const ts = nowSec();
    const values = new Map(Object.entries(headersFor('evt_p', ts, signPayload([secret], 'evt_p', ts, body))));
    class PolyfillHeaders {
      get(name: string): string | null {
        return values.get(name.toLowerCase()) ?? null;
      }
    }
    const headers = new PolyfillHeaders();
    assert.ok(!(headers instanceof Headers));
    assert.deepEqual(await verifyWebhook(body, headers, secret), JSON.parse(body));
    values.set('webhook-id', 'evt_other');
    await assert.rejects(verifyWebhook(body, headers, secret), /no matching webhook signature/);
  });

  test('a parsed body (a body parser ran first) is a TypeError that says to pass the raw body', async () => {
    const secret = generateWebhookSecret();
    const ts = nowSec();
    const headers = headersFor('evt_j', ts, signPayload([secret], 'evt_j', ts, body));
    for (const parsed of [JSON.parse(body), null]) {
      await assert.rejects(
        verifyWebhook(parsed, headers, secret),
        (error: Error) => error instanceof TypeError && /raw body/.test(error.message),
      );
    }
  });

  test('during a rotation either secret alone verifies the two-signature header', async () => {
    const [oldSecret, newSecret] = [generateWebhookSecret(), generateWebhookSecret()];
    const ts = nowSec();
    const headers = headersFor('evt_r', ts, signPayload([newSecret, oldSecret], 'evt_r', ts, body));
    for (const secret of [oldSecret, newSecret]) {
      assert.deepEqual(await verifyWebhook(body, headers, secret), JSON.parse(body));
      assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
    }
  });

  const rejected: [string, (h: Record<string, string>) => { body?: string; secret?: string; nowSec?: number }][] = [
    ['a tampered body', () => ({ body: body.replace('call.ended', 'call.missed') })],
    ['the wrong secret', () => ({ secret: generateWebhookSecret() })],
    ['a timestamp older than five minutes', () => ({ nowSec: 1_780_000_000 + 301 })],
    ['a timestamp more than five minutes ahead', () => ({ nowSec: 1_780_000_000 - 301 })],
    [
      'a changed webhook-id',
      (h) => {
        h['webhook-id'] = 'evt_other';
        return {};
      },
    ],
    [
      'a missing signature',
      (h) => {
        delete h['webhook-signature'];
        return {};
      },
    ],
    [
      'a non-numeric timestamp',
      (h) => {
        h['webhook-timestamp'] = '17e8';
        return {};
      },
    ],
    [
      'an unknown signature version',
      (h) => {
        h['webhook-signature'] = h['webhook-signature']!.replace('v1,', 'v2,');
        return {};
      },
    ],
    [
      'a signature that is not base64',
      (h) => {
        h['webhook-signature'] = 'v1,@@@';
        return {};
      },
    ],
  ];
  for (const [name, mutate] of rejected) {
    test(`rejects ${name} with WebhookVerificationError, as the server's verifier does`, async () => {
      const secret = generateWebhookSecret();
      const ts = 1_780_000_000;
      const headers = headersFor('evt_01TEST', ts, signPayload([secret], 'evt_01TEST', ts, body));
      const change = mutate(headers);
      const args = [change.body ?? body, headers, change.secret ?? secret, { nowSec: change.nowSec ?? ts }] as const;
      await assert.rejects(verifyWebhook(...args), WebhookVerificationError);
      assert.throws(() => serverVerify(...args));
    });
  }

  test('uses no Node-only API: it runs on globalThis.crypto.subtle, atob and TextEncoder', async () => {
    const source = await import('node:fs').then((fs) =>
      fs.readFileSync(new URL('../src/webhook.ts', import.meta.url), 'utf8'),
    );
    assert.doesNotMatch(source, /from 'node:|require\(|\bBuffer\./); // ArrayBuffer is everywhere
  });
});

describe('verifyWebhook on a real delivery from a server process', () => {
  let live: LiveServer;
  let receiver: WebhookReceiver;
  before(async () => {
    live = await startLiveServer();
    receiver = await startWebhookReceiver();
  });
  after(async () => {
    await receiver.close();
    await live.close();
  });

  test('a call.ringing delivery verifies with the SDK and with standardwebhooks, and not with another secret', async () => {
    const tenant = new Callgate({ baseUrl: live.url, apiKey: live.tenantKey.key });
    const { number, apiKey } = await tenant.numbers.create(live.numberInput(0));
    const hook = await tenant.webhooks.create({
      url: receiver.url,
      events: ['call.ringing'],
      whatsappNumberId: number.id,
    });
    const call = await live.incomingCall(0, apiKey.key);
    await receiver.waitFor((rs) => rs.some((r) => r.body?.id === call.id), 5000, 'call.ringing delivery');
    const delivery = receiver.requests.find((r) => r.body?.id === call.id)!;
    const headers = delivery.headers as Record<string, string>;

    const event = await verifyWebhook(delivery.rawBody, headers, hook.secret);
    assert.equal(event.event, 'call.ringing');
    assert.equal(event.eventId, headers['webhook-id']);
    assert.deepEqual(new Webhook(hook.secret).verify(delivery.rawBody, headers), event);
    await assert.rejects(verifyWebhook(delivery.rawBody, headers, generateWebhookSecret()), WebhookVerificationError);
  });
});
