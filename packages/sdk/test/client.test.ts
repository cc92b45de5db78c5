// Every method of the SDK against a real server process (node src/main.mjs) and the Meta fake: no mocks.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP, CANNED_OFFER_SDP } from '../../../test/fakes/meta-graph.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../../test/fakes/webhook-receiver.ts';
import { eventually } from '../../../test/helpers/build-test-app.ts';
import { type FaultProxy, startFaultProxy } from '../../../test/helpers/fault-proxy.ts';
import { type IssuedKey, type LiveServer, nextPeer, startLiveServer } from '../../../test/helpers/live-server.ts';
import { type Call, Callgate, type DeleteNumberParams, type WhatsAppNumber } from '../src/index.ts';
import { callgateError } from './callgate-error.ts';

/** Awaits `promise` and returns the CallgateError it rejects with. */

test('accept and preAccept take no body for server media: they send an empty object', async () => {
  const sent: (string | null)[] = [];
  const client = new Callgate({
    baseUrl: 'http://127.0.0.1:9',
    apiKey: 'ps_x',
    fetch: async (_url, init) => {
      sent.push(init.body as string | null);
      return Response.json({ success: true, id: 'call_1', status: 'RINGING' });
    },
  });
  await client.calls.preAccept('call_1');
  await client.calls.accept('call_1');
  assert.deepEqual(sent, ['{}', '{}']);
});

test("list() without a limit reads the server's default page of 25, and a full one has a next page", async () => {
  const asked: string[] = [];
  const calls = Array.from({ length: 25 }, (_, i) => ({ id: `call_${i}` }));
  const client = new Callgate({
    baseUrl: 'http://127.0.0.1:9',
    apiKey: 'ps_x',
    fetch: async (url) => {
      asked.push(new URL(String(url)).searchParams.get('limit') ?? '');
      return Response.json({ calls });
    },
  });
  const page = await client.calls.list();
  assert.deepEqual(asked, ['25']);
  assert.equal(page.nextBefore, 'call_24');
});

test('numbers.delete still takes request options second, as before it took params; force stays params', async () => {
  const asked: string[] = [];
  const client = new Callgate({
    baseUrl: 'http://127.0.0.1:9',
    apiKey: 'ps_x',
    retry: { baseDelayMs: 1, maxDelayMs: 1 },
    fetch: async (url) => {
      asked.push(String(url).replace('http://127.0.0.1:9', ''));
      return Response.json({ error: 'Service temporarily unavailable', code: 'SERVICE_UNAVAILABLE' }, { status: 503 });
    },
  });
  /** The URLs asked (one per attempt) and the error code of a delete that must fail. */
  const attempts = async (call: () => Promise<void>) => {
    asked.length = 0;
    const { code } = await callgateError(call());
    return { code, asked: [...asked] };
  };
  const once = { code: 'SERVICE_UNAVAILABLE', asked: ['/v1/numbers/num_1'] };
  const thrice = { ...once, asked: Array(3).fill('/v1/numbers/num_1') };
  // Given second as before, maxRetries and an aborted signal are heeded, not taken for params and dropped.
  assert.deepEqual(await attempts(() => client.numbers.delete('num_1', { maxRetries: 0 })), once);
  const stop = new AbortController();
  stop.abort();
  assert.equal((await attempts(() => client.numbers.delete('num_1', { signal: stop.signal }))).code, 'ABORTED');
  const undecided = { force: undefined, signal: stop.signal } as DeleteNumberParams;
  assert.equal((await attempts(() => client.numbers.delete('num_1', undecided))).code, 'ABORTED');
  // The new form: params second, options third.
  assert.deepEqual(await attempts(() => client.numbers.delete('num_1', { force: true }, { maxRetries: 0 })), {
    ...once,
    asked: ['/v1/numbers/num_1?force=true'],
  });
  assert.deepEqual(await attempts(() => client.numbers.delete('num_1')), thrice, 'the default retries');
  assert.deepEqual(await attempts(() => client.numbers.delete('num_1', {})), thrice);
  // From JavaScript, options given both second and third are merged, the third's winning.
  const both = () => client.numbers.delete('num_1', { maxRetries: 2 } as DeleteNumberParams, { maxRetries: 0 });
  assert.deepEqual(await attempts(both), once);
  // Typed by overloads: params and options do not mix in one argument (checked by tsc, never run).
  // @ts-expect-error
  void (() => client.numbers.delete('num_1', { force: true, timeoutMs: 1 }));
});

test('a baseUrl ending in /v1 is refused at once, not a 404 on every request', () => {
  for (const baseUrl of ['https://calls.example.com/v1', 'https://calls.example.com/v1/']) {
    assert.throws(
      () => new Callgate({ baseUrl, apiKey: 'ps_x' }),
      (error: Error) => error instanceof TypeError && error.message.includes('without /v1'),
    );
  }
  assert.ok(new Callgate({ baseUrl: 'https://calls.example.com/v1beta/', apiKey: 'ps_x' }));
});

describe('Callgate SDK against a server process', () => {
  let live: LiveServer;
  let tenant: Callgate;
  let numberA: WhatsAppNumber;
  let keyA: IssuedKey;
  let a: Callgate;
  let numberB: WhatsAppNumber;
  let keyB: IssuedKey;
  let receiver: WebhookReceiver;

  before(async () => {
    live = await startLiveServer();
    receiver = await startWebhookReceiver();
    tenant = new Callgate({ baseUrl: `${live.url}/`, apiKey: live.tenantKey.key });
    const createdA = await tenant.numbers.create(live.numberInput(0, 'Support'));
    numberA = createdA.number;
    keyA = createdA.apiKey;
    a = new Callgate({ baseUrl: live.url, apiKey: keyA.key });
    const createdB = await tenant.numbers.create(live.numberInput(1, 'Sales'));
    numberB = createdB.number;
    keyB = createdB.apiKey;
  });
  after(async () => {
    await receiver.close();
    await live.close();
  });

  describe('numbers', () => {
    test('create returns the number without secrets and its key, shown once', () => {
      assert.match(numberA.id, /^num_/);
      assert.equal(numberA.name, 'Support');
      assert.equal(numberA.provider, 'META');
      assert.equal(numberA.meta?.phoneNumberId, live.metaNumbers[0]!.phoneNumberId);
      assert.ok(!JSON.stringify(numberA).includes(live.metaNumbers[0]!.accessToken), 'no credential comes back');
      assert.match(keyA.key, /^ps_/);
      assert.match(keyA.id, /^key_/);
    });

    test("list and get return the tenant's numbers", async () => {
      const numbers = await tenant.numbers.list();
      assert.deepEqual(numbers.map((n) => n.id).sort(), [numberA.id, numberB.id].sort());
      assert.deepEqual(
        await tenant.numbers.get(numberB.id),
        numbers.find((n) => n.id === numberB.id),
      );
    });

    test('update turns recordCalls on and off; a bad value is a typed VALIDATION_ERROR', async () => {
      assert.equal((await tenant.numbers.update(numberB.id, { recordCalls: true })).recordCalls, true);
      assert.equal((await tenant.numbers.get(numberB.id)).recordCalls, true);
      assert.equal((await tenant.numbers.update(numberB.id, { recordCalls: false })).recordCalls, false);
      const error = await callgateError(
        tenant.numbers.update(numberB.id, { recordCalls: 'yes' } as unknown as { recordCalls: boolean }),
      );
      assert.equal(error.status, 400);
      assert.equal(error.code, 'VALIDATION_ERROR');
    });

    test('delete removes a number; afterwards get fails with a typed NUMBER_NOT_FOUND', async () => {
      const input = { ...live.numberInput(0, 'Temporary'), phoneNumber: '+5511400499999' };
      input.meta = { ...input.meta, phoneNumberId: '990000000000001' };
      // Registering asks Meta whether the token reaches the id: the fake knows this one too.
      live.fake.addNumber({
        phoneNumberId: input.meta.phoneNumberId,
        displayPhoneNumber: '5511400499999',
        wabaId: input.meta.wabaId,
        accessToken: input.meta.accessToken,
        appSecret: input.meta.appSecret,
      });
      const { number } = await tenant.numbers.create(input);
      assert.equal(await tenant.numbers.delete(number.id), undefined);
      const error = await callgateError(tenant.numbers.get(number.id));
      assert.equal(error.status, 404);
      assert.equal(error.code, 'NUMBER_NOT_FOUND');
      assert.match(error.requestId ?? '', /.+/);
      assert.equal(error.message, 'Number not found');
    });

    test('delete refuses a number with a live call (typed NUMBER_HAS_LIVE_CALLS); force deletes it', async () => {
      const input = { ...live.numberInput(0, 'Stuck'), phoneNumber: '+5511400499998' };
      input.meta = { ...input.meta, phoneNumberId: '990000000000002' };
      live.fake.addNumber({
        phoneNumberId: input.meta.phoneNumberId,
        displayPhoneNumber: '5511400499998',
        wabaId: input.meta.wabaId,
        accessToken: input.meta.accessToken,
        appSecret: input.meta.appSecret,
      });
      const { number, apiKey } = await tenant.numbers.create(input);
      const wacid = await live.fake.incomingCall({ phoneNumberId: input.meta.phoneNumberId, from: nextPeer() });
      const own = new Callgate({ baseUrl: live.url, apiKey: apiKey.key });
      const ringing = await eventually(() => own.calls.get(wacid).catch(() => undefined), 10_000, 'the call stored');
      const refused = await callgateError(tenant.numbers.delete(number.id));
      assert.equal(refused.status, 409);
      assert.equal(refused.code, 'NUMBER_HAS_LIVE_CALLS');
      assert.deepEqual(refused.details, { liveCalls: [ringing.id], callsBeingPlaced: 0 });
      assert.equal((await tenant.numbers.get(number.id)).id, number.id, 'a refused delete keeps the number');
      assert.equal(await tenant.numbers.delete(number.id, { force: true }), undefined);
      assert.equal((await callgateError(tenant.numbers.get(number.id))).code, 'NUMBER_NOT_FOUND');
    });

    test("a validation failure carries the server's code and details", async () => {
      const error = await callgateError(tenant.numbers.create({ ...live.numberInput(0), phoneNumber: 'not-a-number' }));
      assert.equal(error.status, 400);
      assert.equal(error.code, 'VALIDATION_ERROR');
      assert.ok(error.details, 'details explain what is wrong');
    });
  });

  describe('api keys', () => {
    test('list shows one masked key per number (Pilot), never revealable', async () => {
      const keys = await tenant.apiKeys.list();
      assert.ok(keys.every((k) => k.scope === 'number' && k.revealable === false && k.key === null));
      const mine = keys.find((k) => k.numberId === numberA.id)!;
      assert.equal(mine.keyId, `key_…${keyA.id.slice(-4)}`);
      assert.equal(mine.keyLast4, keyA.key.slice(-4));
      assert.equal(mine.keyIdLast4, keyA.id.slice(-4));
      assert.ok(!JSON.stringify(keys).includes(keyA.key), 'never the whole secret');
    });

    test('regenerate issues a new key; the old one is refused at once with UNAUTHORIZED', async () => {
      const { numberId, apiKey } = await tenant.apiKeys.regenerate(numberB.id);
      assert.equal(numberId, numberB.id);
      const old = await callgateError(new Callgate({ baseUrl: live.url, apiKey: keyB.key }).calls.list());
      assert.equal(old.status, 401);
      assert.equal(old.code, 'UNAUTHORIZED');
      keyB = apiKey;
      assert.deepEqual((await new Callgate({ baseUrl: live.url, apiKey: keyB.key }).calls.list()).calls, []);
    });

    test('current says what either kind of key speaks for', async () => {
      const mine = await tenant.apiKeys.current();
      assert.equal(mine.scope, 'tenant');
      assert.equal(mine.whatsappNumberId, null);
      assert.deepEqual(await a.apiKeys.current(), {
        scope: 'number',
        tenantId: mine.tenantId,
        whatsappNumberId: numberA.id,
      });
    });

    test('apiKeyId authenticates with x-api-key-id', async () => {
      const byId = new Callgate({ baseUrl: live.url, apiKeyId: keyA.id });
      assert.ok(Array.isArray((await byId.calls.list({ limit: 1 })).calls));
    });

    test('the wrong scope is a typed 403', async () => {
      const onCalls = await callgateError(tenant.calls.list());
      assert.equal(onCalls.status, 403);
      assert.equal(onCalls.code, 'TENANT_SCOPE_NOT_ALLOWED');
      const onKeys = await callgateError(a.apiKeys.list());
      assert.equal(onKeys.code, 'NUMBER_SCOPE_NOT_ALLOWED');
    });

    test("numbers.current is a number key's own number; a tenant key has none", async () => {
      assert.deepEqual(await a.numbers.current(), await tenant.numbers.get(numberA.id));
      assert.equal((await callgateError(tenant.numbers.current())).status, 403);
    });

    test('a number key lists only its own number (Pilot)', async () => {
      assert.deepEqual(
        (await a.numbers.list()).map((n) => n.id),
        [numberA.id],
      );
    });
  });

  describe('calls', () => {
    test('get finds a call by id or by the provider id, with SDPs only when asked', async () => {
      const ringing = await live.incomingCall(0, keyA.key);
      const byId = await a.calls.get(ringing.id);
      assert.equal(byId.status, 'RINGING');
      assert.equal(byId.direction, 'INBOUND');
      assert.equal(byId.sdpOffer, undefined);
      const byWacid = await a.calls.get(ringing.externalCallId, { includeSdp: true });
      assert.equal(byWacid.id, ringing.id);
      assert.match(byWacid.sdpOffer ?? '', /^v=0/);
      const missing = await callgateError(a.calls.get('call_01NOPE0000000000000000000'));
      assert.equal(missing.code, 'CALL_NOT_FOUND');
      const otherNumber = await callgateError(
        new Callgate({ baseUrl: live.url, apiKey: keyB.key }).calls.get(ringing.id),
      );
      assert.equal(otherNumber.status, 404, "another number's call does not exist for this key");
    });

    test('preAccept, accept, then terminate; a second terminate says alreadyEnded', async () => {
      const call = await live.incomingCall(0, keyA.key);
      assert.deepEqual(await a.calls.preAccept(call.id, { sdp: CANNED_ANSWER_SDP }), {
        success: true,
        id: call.id,
        status: 'RINGING',
      });
      assert.deepEqual(await a.calls.accept(call.id, { sdp: CANNED_ANSWER_SDP }), {
        success: true,
        id: call.id,
        status: 'ACCEPTED',
      });
      assert.deepEqual(await a.calls.terminate(call.id), { success: true, id: call.id, status: 'COMPLETED' });
      assert.deepEqual(await a.calls.terminate(call.id), {
        success: true,
        id: call.id,
        status: 'COMPLETED',
        alreadyEnded: true,
      });
      const ended = await a.calls.get(call.id);
      assert.equal(ended.endedBy, 'BUSINESS');
    });

    test('reject declines a ringing call; acting on it again is a typed CALL_STATE_CONFLICT', async () => {
      const call = await live.incomingCall(0, keyA.key);
      assert.deepEqual(await a.calls.reject(call.id), { success: true, id: call.id, status: 'REJECTED' });
      const conflict = await callgateError(a.calls.accept(call.id, { sdp: CANNED_ANSWER_SDP }));
      assert.equal(conflict.status, 409);
      assert.equal(conflict.code, 'CALL_STATE_CONFLICT');
      assert.equal(conflict.details?.status, 'REJECTED');
    });

    test("events returns the call's timeline in order", async () => {
      const call = await live.incomingCall(0, keyA.key);
      await a.calls.terminate(call.id);
      const timeline = await a.calls.events(call.id);
      assert.deepEqual(
        timeline.map((e) => e.sequence),
        timeline.map((_, i) => i + 1),
      );
      assert.equal(timeline[0]!.type, 'offer');
      assert.ok(timeline.some((e) => e.source === 'api' && e.type === 'terminate'));
    });

    test('create starts an outbound call; the automatic Idempotency-Key differs per call, an explicit one replays', async () => {
      const [to, other] = [`+${nextPeer()}`, `+${nextPeer()}`];
      for (const user of [to, other]) {
        live.fake.grantPermission(live.metaNumbers[0]!.phoneNumberId, user.slice(1), 'temporary');
      }
      const created = await a.calls.create({ to, sdp: CANNED_OFFER_SDP, bizOpaqueCallbackData: 'order-42' });
      assert.match(created.id, /^call_/);
      assert.equal(created.status, 'INITIATED');
      const call = await a.calls.get(created.id);
      assert.equal(call.direction, 'OUTBOUND');
      assert.equal(call.bizOpaqueCallbackData, 'order-42');
      await a.calls.terminate(created.id);

      // Same body, no key of the caller's: the SDK's key is fresh per call, so this is a second call.
      const second = await a.calls.create({ to, sdp: CANNED_OFFER_SDP, bizOpaqueCallbackData: 'order-42' });
      assert.notEqual(second.id, created.id);
      await a.calls.terminate(second.id);

      const input = { to: other, sdp: CANNED_OFFER_SDP };
      const first = await a.calls.create(input, { idempotencyKey: `order-43-${other}` });
      const replay = await a.calls.create(input, { idempotencyKey: `order-43-${other}` });
      assert.deepEqual(replay, first, 'the same key returns the stored response and calls nobody twice');
      assert.equal(live.fake.countRequests({ action: 'connect' }), 3);
      await a.calls.terminate(first.id);
    });

    test('play and realtimeSession are EVO_GO features: a Meta number gets a typed FEATURE_NOT_SUPPORTED', async () => {
      const call = await live.incomingCall(0, keyA.key);
      const play = await callgateError(a.calls.play(call.id, { mediaUrl: 'https://example.com/hello.mp3' }));
      assert.equal(play.status, 400);
      assert.equal(play.code, 'FEATURE_NOT_SUPPORTED');
      const session = await callgateError(a.calls.realtimeSession(call.id, { mode: 'listen' }));
      assert.equal(session.code, 'FEATURE_NOT_SUPPORTED');
      await a.calls.terminate(call.id);
    });

    test("settings.get and settings.update pass Meta's calling settings through", async () => {
      const updated = await a.calls.settings.update({
        calling: { status: 'ENABLED', call_icon_visibility: 'DEFAULT' },
      });
      assert.equal(typeof updated, 'object');
      const settings = await a.calls.settings.get();
      assert.equal((settings.calling as { status?: string } | undefined)?.status, 'ENABLED');
    });

    test("permissions.get reads a user's permission and permissions.request asks for it", async () => {
      const to = `+${nextPeer()}`;
      const before = await a.calls.permissions.get(to);
      assert.equal(typeof before, 'object');
      const sent = await a.calls.permissions.request({ to, text: 'May we call you about your order?' });
      assert.match(sent.messageId, /.+/);
      live.fake.grantPermission(live.metaNumbers[0]!.phoneNumberId, to.slice(1), 'permanent');
      const granted = await a.calls.permissions.get(to);
      assert.match(JSON.stringify(granted), /permanent/i);
    });
  });

  describe('pagination', () => {
    let calls: Call[];
    let c: Callgate;
    before(async () => {
      // Number B's calls only, so other tests' calls do not interfere.
      c = new Callgate({ baseUrl: live.url, apiKey: keyB.key });
      for (let i = 0; i < 7; i++) {
        await live.incomingCall(1, keyB.key);
      }
      // The 3rd and 4th newest calls arrived in one millisecond, across the first page boundary of limit 3.
      const made = (await c.calls.list({ limit: 100 })).calls;
      const db = new DatabaseSync(join(live.env.DATA_DIR!, 'callgate.db'));
      db.prepare('UPDATE calls SET created_at = ? WHERE id = ?').run(made[2]!.createdAt, made[3]!.id);
      db.close();
      calls = (await c.calls.list({ limit: 100 })).calls;
      assert.equal(calls.length, 7);
      assert.equal(calls[3]!.createdAt, calls[2]!.createdAt);
    });

    test('list returns one page, newest first, and the cursor of the next', async () => {
      const first = await c.calls.list({ limit: 3 });
      assert.deepEqual(
        first.calls.map((x) => x.id),
        calls.slice(0, 3).map((x) => x.id),
      );
      // The cursor is the last call's id: exact even when calls share a millisecond.
      assert.equal(first.nextBefore, calls[2]!.id);
      const second = await c.calls.list({ limit: 3, before: first.nextBefore! });
      assert.deepEqual(
        second.calls.map((x) => x.id),
        calls.slice(3, 6).map((x) => x.id),
      );
      const last = await c.calls.list({ limit: 100, before: calls[5]!.createdAt });
      assert.equal(last.nextBefore, null);
    });

    test('iterate walks every page once: no call skipped or repeated', async () => {
      const pages: string[][] = [];
      for await (const page of c.calls.iterate({ limit: 3 })) {
        pages.push(page.calls.map((x) => x.id));
      }
      assert.deepEqual(
        pages.map((p) => p.length),
        [3, 3, 1],
      );
      assert.deepEqual(
        pages.flat(),
        calls.map((x) => x.id),
      );
    });

    test('iterate stops after maxPages and starts from before; each yields single calls', async () => {
      const pages = [];
      for await (const page of c.calls.iterate({ limit: 2, maxPages: 2 })) {
        pages.push(page);
      }
      assert.equal(pages.length, 2);
      assert.equal(pages[1]!.nextBefore, calls[3]!.id);
      const rest: string[] = [];
      for await (const call of c.calls.each({ limit: 2, before: calls[3]!.createdAt })) {
        rest.push(call.id);
      }
      assert.deepEqual(
        rest,
        calls.slice(4).map((x) => x.id),
      );
    });
  });

  describe('filters', () => {
    test('list, iterate and each send status and peer to the server', async () => {
      const c = new Callgate({ baseUrl: live.url, apiKey: keyB.key });
      const ended = await live.incomingCall(1, keyB.key);
      const peer = nextPeer();
      const ringing = await live.incomingCall(1, keyB.key, peer);
      await c.calls.terminate(ended.id);
      const ids = (page: { calls: Call[] }) => page.calls.map((x) => x.id);
      const completed = await c.calls.list({ status: 'COMPLETED', limit: 100 });
      assert.ok(ids(completed).includes(ended.id));
      assert.ok(
        completed.calls.every((x) => x.status === 'COMPLETED'),
        'the status filter reached the server',
      );
      const stillRinging = await c.calls.list({ status: 'RINGING,ACCEPTED', limit: 100 });
      assert.ok(ids(stillRinging).includes(ringing.id));
      assert.ok(!ids(stillRinging).includes(ended.id));
      const byPeer = await c.calls.list({ peer, limit: 100 });
      assert.deepEqual(ids(byPeer), [ringing.id]);
      const iterated: string[] = [];
      for await (const page of c.calls.iterate({ status: 'COMPLETED', limit: 1 })) {
        iterated.push(...ids(page));
      }
      assert.deepEqual(iterated, ids(completed));
      const each: string[] = [];
      for await (const call of c.calls.each({ peer, limit: 1 })) {
        each.push(call.id);
      }
      assert.deepEqual(each, [ringing.id]);
    });
  });

  describe('webhooks', () => {
    test('create, list, get, update, rotateSecret, logs, replay, eventTypes, delete', async () => {
      const created = await a.webhooks.create({ url: receiver.url, events: ['call.ringing'], name: 'ringing' });
      assert.match(created.secret, /^whsec_/);
      assert.equal(created.whatsappNumberId, numberA.id);
      assert.deepEqual(
        (await a.webhooks.list()).map((w) => w.id),
        [created.id],
      );
      const fetched = await a.webhooks.get(created.id);
      assert.equal(fetched.url, receiver.url);
      assert.equal((fetched as Record<string, unknown>).secret, undefined, 'the secret is shown once');
      const viaTenant = await tenant.webhooks.list();
      assert.ok(viaTenant.some((w) => w.id === created.id));

      const updated = await a.webhooks.update(created.id, { events: ['call.ringing', 'call.ended'], name: 'both' });
      assert.deepEqual(updated.events, ['call.ringing', 'call.ended']);
      assert.equal(updated.name, 'both');

      const call = await live.incomingCall(0, keyA.key);
      await receiver.waitFor((rs) => rs.some((r) => r.body?.id === call.id), 5000, 'the ringing delivery');
      const logs = await a.webhooks.logs(created.id, { limit: 5, event: 'call.ringing' });
      assert.ok(logs.length >= 1);
      assert.equal(logs[0]!.status, 'SUCCESS');
      const eventId = logs[0]!.eventId;
      const replay = await a.webhooks.replay(created.id, eventId);
      assert.deepEqual(replay, { webhookId: created.id, eventId, event: 'call.ringing', status: 'PENDING' });
      await receiver.waitFor(
        (rs) => rs.filter((r) => r.headers['webhook-id'] === eventId).length >= 2,
        5000,
        'the replayed delivery',
      );

      const types = await a.webhooks.eventTypes();
      assert.ok(types.some((e) => e.name === 'call.ringing' && e.description.length > 0));

      const rotated = await a.webhooks.rotateSecret(created.id);
      assert.equal(rotated.id, created.id);
      assert.notEqual(rotated.secret, created.secret);
      assert.ok(Date.parse(rotated.previousSecretExpiresAt) > Date.now());

      assert.equal(await a.webhooks.delete(created.id), undefined);
      assert.equal((await callgateError(a.webhooks.get(created.id))).code, 'WEBHOOK_NOT_FOUND');
      await a.calls.terminate(call.id);
    });

    test('a tenant key must name the number: a typed NUMBER_REQUIRED', async () => {
      const error = await callgateError(tenant.webhooks.create({ url: receiver.url, events: ['*'] }));
      assert.equal(error.code, 'NUMBER_REQUIRED');
    });
  });

  describe('what goes on the wire', () => {
    let proxy: FaultProxy;
    before(async () => {
      proxy = await startFaultProxy(live.url);
    });
    after(() => proxy.close());

    test('every POST carries an Idempotency-Key, other methods none; the key goes in x-api-key', async () => {
      const c = new Callgate({ baseUrl: proxy.url, apiKey: keyA.key });
      const call = await live.incomingCall(0, keyA.key);
      await c.calls.list({ limit: 1 });
      await c.calls.reject(call.id);
      const hook = await c.webhooks.create({ url: receiver.url, events: [] });
      await c.webhooks.update(hook.id, { active: false });
      await c.webhooks.delete(hook.id);
      const seen = proxy.requests.map((r) => [r.method, typeof r.headers['idempotency-key']] as const);
      assert.deepEqual(seen, [
        ['GET', 'undefined'],
        ['POST', 'string'],
        ['POST', 'string'],
        ['PATCH', 'undefined'],
        ['DELETE', 'undefined'],
      ]);
      const keys = proxy.requests.filter((r) => r.method === 'POST').map((r) => r.headers['idempotency-key']);
      assert.notEqual(keys[0], keys[1]);
      assert.ok(proxy.requests.every((r) => r.headers['x-api-key'] === keyA.key));
    });
  });
});
