// Meta → us: authentication, routing, and the delivery realities of docs/spec/providers-meta.md §4.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signMetaBody } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import {
  acceptedCall,
  nextPeer,
  outbox,
  postSignedCalls,
  ringingCall,
  storedCall,
} from '../../../../test/helpers/calls.ts';
import { ManualClock } from '../../../../test/helpers/manual-clock.ts';
import { countEventsForNumber } from '../../../../test/helpers/store-reads.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { listCallsForNumber } from '../../../store/calls.ts';

for (const kind of storeKinds()) {
  describe(`Meta webhook [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    const post = (body: string, headers: Record<string, string> = {}) =>
      t.app.inject({
        method: 'POST',
        url: '/providers/meta/webhook',
        headers: { 'content-type': 'application/json', ...headers },
        payload: body,
      });
    const eventTypes = async (id: string) => {
      const call = await storedCall(t, t.numberA, id);
      return call ? (await outbox(t, call)).map((e) => e.type) : [];
    };
    const connectBody = (wacid: string, from: string, timestamp = Math.floor(Date.now() / 1000)) =>
      JSON.stringify(
        t.fake.buildWebhook(t.numberA.phoneNumberId, {
          contacts: [{ profile: { name: 'Ana' }, wa_id: from }],
          calls: [
            {
              id: wacid,
              from,
              to: t.numberA.displayPhoneNumber,
              event: 'connect',
              timestamp: String(timestamp),
              direction: 'USER_INITIATED',
              session: { sdp_type: 'offer', sdp: 'v=0\r\n' },
            },
          ],
        }),
      );
    const totalEvents = async () =>
      (await countEventsForNumber(t.store.db, t.numberA.id)) + (await countEventsForNumber(t.store.db, t.numberB.id));

    describe('subscription check', () => {
      test('the right verify token gets the challenge back as text', async () => {
        const res = await t.app.inject({
          url: `/providers/meta/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${t.numberB.verifyToken}`,
        });
        assert.equal(res.statusCode, 200);
        assert.equal(res.body, '1158201444');
        assert.match(String(res.headers['content-type']), /^text\/plain/);
      });
      test('the echoed challenge is never rendered: any tenant picks a verify token, so it is theirs to write', async () => {
        // Served on the dashboard's origin, a challenge sniffed as HTML would run script beside the dashboard's key.
        const res = await t.app.inject({
          url: `/providers/meta/webhook?hub.mode=subscribe&hub.verify_token=${t.numberB.verifyToken}&hub.challenge=${encodeURIComponent('<script>alert(1)</script>')}`,
        });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
        assert.equal(res.headers['content-security-policy'], "default-src 'none'; sandbox");
      });
      test('a wrong verify token is 403', async () => {
        const res = await t.app.inject({
          url: '/providers/meta/webhook?hub.mode=subscribe&hub.challenge=1&hub.verify_token=nope',
        });
        assert.equal(res.statusCode, 403);
      });
      test('missing parameters are 400', async () => {
        const res = await t.app.inject({ url: '/providers/meta/webhook?hub.mode=subscribe' });
        assert.equal(res.statusCode, 400);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
      });
    });

    describe('authentication: nothing unsigned is stored', () => {
      const cases: [string, (body: string) => Record<string, string>][] = [
        ['no signature', () => ({})],
        ['a malformed signature', () => ({ 'x-hub-signature-256': 'sha256=xyz' })],
        ['a wrong signature', (b) => ({ 'x-hub-signature-256': signMetaBody(b, 'not-the-secret') })],
        ["another number's app secret", (b) => ({ 'x-hub-signature-256': signMetaBody(b, t.numberB.appSecret) })],
      ];
      for (const [name, headers] of cases) {
        test(`${name} → 401, nothing stored`, async () => {
          const before = await totalEvents();
          const wacid = `wacid.forged${Math.random()}`;
          const body = connectBody(wacid, nextPeer());
          const res = await post(body, headers(body));
          assert.equal(res.statusCode, 401);
          assert.equal(res.json().code, 'UNAUTHORIZED');
          assert.equal(await storedCall(t, t.numberA, wacid), null);
          assert.equal(await totalEvents(), before);
        });
      }
      test('an unknown phone_number_id: 200 ignored when one of our apps signed it, else 401', async () => {
        const body = JSON.stringify({
          object: 'whatsapp_business_account',
          entry: [
            { id: '1', changes: [{ field: 'calls', value: { metadata: { phone_number_id: '999' }, calls: [] } }] },
          ],
        });
        const ours = await post(body, { 'x-hub-signature-256': signMetaBody(body, t.numberA.appSecret) });
        assert.equal(ours.statusCode, 200, 'Meta would retry a refusal for days');
        assert.deepEqual(ours.json(), { received: 0 });
        const forged = await post(body, { 'x-hub-signature-256': signMetaBody(body, 'not-our-secret') });
        assert.equal(forged.statusCode, 401);
        assert.equal((await post(body)).statusCode, 401);
      });
      test('a phone_number_id that is no Graph id (a NUL in it) is never looked up: 401 unsigned, 200 signed', async () => {
        const body = JSON.stringify({
          object: 'whatsapp_business_account',
          entry: [
            { id: '1', changes: [{ field: 'calls', value: { metadata: { phone_number_id: '1\u0000' }, calls: [] } }] },
          ],
        });
        const forged = await post(body, { 'x-hub-signature-256': signMetaBody(body, 'not-our-secret') });
        assert.equal(forged.statusCode, 401, forged.body);
        const ours = await post(body, { 'x-hub-signature-256': signMetaBody(body, t.numberA.appSecret) });
        assert.equal(ours.statusCode, 200, ours.body);
        assert.deepEqual(ours.json(), { received: 0 });
      });
      test('a change whose field is no string (an object String() cannot print) is skipped: 401 unsigned, never 503', async () => {
        const wacid = `wacid.oddfield${Date.now()}`;
        const odd = (field: unknown) => ({
          id: '1',
          changes: [{ field, value: { metadata: { phone_number_id: t.numberA.phoneNumberId }, calls: [] } }],
        });
        const good = JSON.parse(connectBody(wacid, nextPeer())).entry;
        const body = JSON.stringify({
          object: 'whatsapp_business_account',
          entry: [odd({ toString: 0 }), odd([{ toString: 0, valueOf: 0 }]), ...good],
        });
        // Parsed before any signature is checked (the ids it names say whose secret to try): anyone may send it.
        const forged = await post(body, { 'x-hub-signature-256': signMetaBody(body, 'not-our-secret') });
        assert.equal(forged.statusCode, 401, forged.body);
        assert.equal(await storedCall(t, t.numberA, wacid), null);
        const ours = await post(body, { 'x-hub-signature-256': signMetaBody(body, t.numberA.appSecret) });
        assert.equal(ours.statusCode, 200, ours.body);
        assert.deepEqual(ours.json(), { received: 1 });
        assert.equal((await storedCall(t, t.numberA, wacid))?.status, 'RINGING');
      });
      test('a batch naming more than 100 numbers still reaches ours (Meta batches up to 1000 updates)', async () => {
        const wacid = `wacid.manynumbers${Date.now()}`;
        const others = Array.from({ length: 150 }, (_, i) => ({
          id: '1',
          changes: [{ field: 'calls', value: { metadata: { phone_number_id: String(900_000 + i) }, calls: [] } }],
        }));
        const ours = JSON.parse(connectBody(wacid, nextPeer())).entry;
        const body = JSON.stringify({ object: 'whatsapp_business_account', entry: [...others, ...ours] });
        const res = await post(body, { 'x-hub-signature-256': signMetaBody(body, t.numberA.appSecret) });
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(res.json(), { received: 1 });
        assert.equal((await storedCall(t, t.numberA, wacid))?.status, 'RINGING');
      });
      test('a signed body that is not JSON → 400; unsigned, or signed by no app of ours, it is a 401', async () => {
        const body = '{"entry": [';
        const res = await post(body, { 'x-hub-signature-256': signMetaBody(body, t.numberA.appSecret) });
        assert.equal(res.statusCode, 400);
        // docs/spec/calls-api.md §5: only a correctly signed body that is not JSON is a 400.
        for (const signature of [signMetaBody(body, 'not-our-secret'), 'sha256=xyz']) {
          const forged = await post(body, { 'x-hub-signature-256': signature });
          assert.equal(forged.statusCode, 401, signature);
          assert.equal(forged.json().code, 'UNAUTHORIZED');
        }
      });
      test("a large body is hashed off the event loop: a forged one tried against every app's secret holds nothing up", async () => {
        // Anyone may POST Meta's 3 MB unsigned; a body naming no number of ours is tried with every app's secret.
        const own = await buildTestApp(kind);
        try {
          const apps = 40;
          for (let i = 0; i < apps; i++) {
            own.fake.addNumber({
              phoneNumberId: `990077${String(i).padStart(6, '0')}`,
              displayPhoneNumber: `5511977${String(i).padStart(6, '0')}`,
              wabaId: '1',
              accessToken: `token-${i}`,
              appSecret: `app-secret-${i}`,
            });
            const res = await own.app.inject({
              method: 'POST',
              url: '/v1/numbers',
              headers: { 'x-api-key': own.tenantKey.key },
              payload: {
                name: `App ${i}`,
                phoneNumber: `+5511977${String(i).padStart(6, '0')}`,
                provider: 'META',
                meta: {
                  phoneNumberId: `990077${String(i).padStart(6, '0')}`,
                  wabaId: '1',
                  accessToken: `token-${i}`,
                  appSecret: `app-secret-${i}`,
                  verifyToken: `verify-${i}`,
                },
              },
            });
            assert.equal(res.statusCode, 201, res.body);
          }
          const body = 'x'.repeat(3 * 1024 * 1024);
          const send = (signature: string) =>
            own.app.inject({
              method: 'POST',
              url: '/providers/meta/webhook',
              headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
              payload: body,
            });
          let turns = 0;
          let counting = true;
          const turn = () => {
            if (counting) {
              turns++;
              setImmediate(turn);
            }
          };
          setImmediate(turn);
          const forged = await send(`sha256=${'0'.repeat(64)}`);
          counting = false;
          assert.equal(forged.statusCode, 401);
          // Each secret's hash waits on the thread pool, so the loop turns at least once per app tried: hashed in
          // place, all of them ran in one turn and every request and call's audio frame waited behind them.
          assert.ok(turns >= apps, `the event loop turned ${turns} times while ${apps + 2} app secrets were tried`);
          // Hashed there, the signature still verifies: signed by one of our apps, a body that is not JSON is a 400.
          const signed = await send(signMetaBody(body, 'app-secret-17'));
          assert.equal(signed.statusCode, 400, signed.body);
        } finally {
          await own.close();
        }
      });
      test('the signature is checked over the exact bytes (non-ASCII escaped as Meta does)', async () => {
        const wacid = await t.fake.incomingCall({
          phoneNumberId: t.numberA.phoneNumberId,
          from: nextPeer(),
          name: 'José Ñandú 😀',
        });
        await t.fake.flush();
        assert.ok(await storedCall(t, t.numberA, wacid));
        assert.ok(t.fake.webhookAttempts.at(-1)!.body.includes('\\u00e9'));
      });
      test('a body over 4 MB is refused with 413, nothing stored', async () => {
        const body = JSON.stringify({ pad: 'x'.repeat(4 * 1024 * 1024 + 10) });
        const res = await post(body, { 'x-hub-signature-256': signMetaBody(body, t.numberA.appSecret) });
        assert.equal(res.statusCode, 413);
      });
    });

    describe('delivery realities', () => {
      test('a duplicated connect creates one ringing call with one call.ringing', async () => {
        const wacid = await t.fake.incomingCall(
          { phoneNumberId: t.numberA.phoneNumberId, from: nextPeer() },
          { duplicate: 3 },
        );
        await t.fake.flush();
        const calls = (await listCallsForNumber(t.store.db, t.numberA.id, { limit: 100, cursor: null })).filter(
          (c) => c.externalCallId === wacid,
        );
        assert.equal(calls.length, 1);
        assert.equal(calls[0]!.status, 'RINGING');
        assert.deepEqual(await eventTypes(wacid), ['call.ringing']);
      });

      test('terminate before connect: the late connect creates the call MISSED, never ringing', async () => {
        const wacid = await t.fake.incomingCall(
          { phoneNumberId: t.numberA.phoneNumberId, from: nextPeer() },
          { hold: true },
        );
        await t.fake.userHangsUp(wacid);
        await t.fake.flush();
        assert.equal(await storedCall(t, t.numberA, wacid), null, 'no call before its offer');
        await t.fake.releaseHeld();
        await t.fake.flush();
        const call = await storedCall(t, t.numberA, wacid);
        assert.equal(call?.status, 'MISSED');
        assert.deepEqual(await eventTypes(wacid), ['call.missed', 'call.ended']);
      });

      test('a duplicated terminate ends the call once', async () => {
        const wacid = await t.fake.incomingCall({ phoneNumberId: t.numberA.phoneNumberId, from: nextPeer() });
        await t.fake.flush();
        await t.fake.userHangsUp(wacid, { duplicate: 2 });
        await t.fake.flush();
        assert.deepEqual(await eventTypes(wacid), ['call.ringing', 'call.missed', 'call.ended']);
      });

      test('a stale connect (older than the ring timeout) is MISSED by SYSTEM', async () => {
        const wacid = await t.fake.incomingCall(
          { phoneNumberId: t.numberA.phoneNumberId, from: nextPeer() },
          { stale: 600 },
        );
        await t.fake.flush();
        const call = await storedCall(t, t.numberA, wacid);
        assert.equal(call?.status, 'MISSED');
        assert.equal(call?.endedBy, 'SYSTEM');
        assert.deepEqual(await eventTypes(wacid), ['call.missed', 'call.ended']);
      });

      test("a connect under a second past the ring timeout still rings: Meta's timestamps are whole seconds", async () => {
        const stamp = Math.floor(Date.now() / 1000);
        const clock = new ManualClock(stamp * 1000 + 1900);
        const quick = await buildTestApp(kind, { clock, env: { RING_TIMEOUT_SECONDS: '1' } });
        try {
          const from = { phoneNumberId: quick.numberA.phoneNumberId, timestamp: stamp };
          const fresh = await quick.fake.incomingCall({ ...from, from: nextPeer() });
          await quick.fake.flush();
          assert.equal((await storedCall(quick, quick.numberA, fresh))?.status, 'RINGING', 'stamped 1.9 s ago');
          clock.advance(300);
          const old = await quick.fake.incomingCall({ ...from, from: nextPeer() });
          await quick.fake.flush();
          assert.equal((await storedCall(quick, quick.numberA, old))?.status, 'MISSED', 'stamped 2.2 s ago');
        } finally {
          await quick.close();
        }
      });

      test('the sweeper forgives the whole-second stamp too: a call that still rings is not swept at once', async () => {
        const stamp = Math.floor(Date.now() / 1000);
        const clock = new ManualClock(stamp * 1000 + 1900);
        const quick = await buildTestApp(kind, { clock, env: { RING_TIMEOUT_SECONDS: '1' } });
        try {
          const wacid = await quick.fake.incomingCall({
            phoneNumberId: quick.numberA.phoneNumberId,
            timestamp: stamp,
            from: nextPeer(),
          });
          await quick.fake.flush();
          assert.equal((await storedCall(quick, quick.numberA, wacid))?.status, 'RINGING');
          // Same instant: it may have rung for only 0.9 s, as the offer's own check said.
          await quick.sweeper.sweepOnce();
          assert.equal((await storedCall(quick, quick.numberA, wacid))?.status, 'RINGING', 'swept a second early');
          clock.advance(300); // now it has rung for at least 1.2 s
          await quick.sweeper.sweepOnce();
          assert.equal((await storedCall(quick, quick.numberA, wacid))?.status, 'MISSED');
        } finally {
          await quick.close();
        }
      });

      for (const batch of ['array', 'changes', 'entries'] as const) {
        test(`a batch (${batch}) with several calls and reordered events leaves each call right`, async () => {
          const peers = [nextPeer(), nextPeer(), nextPeer()];
          const [w1, w2, w3] = [
            await t.fake.incomingCall({ phoneNumberId: t.numberA.phoneNumberId, from: peers[0]! }, { hold: true }),
            await t.fake.incomingCall({ phoneNumberId: t.numberA.phoneNumberId, from: peers[1]! }, { hold: true }),
            await t.fake.incomingCall({ phoneNumberId: t.numberB.phoneNumberId, from: peers[2]! }, { hold: true }),
          ];
          await t.fake.userHangsUp(w2!, { hold: true });
          // Reversed: w2's terminate comes before every connect, and all in one POST.
          await t.fake.releaseHeld({ reverse: true, batch });
          await t.fake.flush();
          assert.equal((await storedCall(t, t.numberA, w1!))?.status, 'RINGING');
          assert.equal((await storedCall(t, t.numberA, w1!))?.peerNumber, peers[0]);
          assert.equal((await storedCall(t, t.numberA, w2!))?.status, 'MISSED');
          assert.equal((await storedCall(t, t.numberA, w2!))?.peerNumber, peers[1]);
          // The POST is signed with A's app secret: B's change (another app) is skipped, never applied to A.
          assert.equal(await storedCall(t, t.numberB, w3!), null, 'not covered by the signature');
          assert.equal(await storedCall(t, t.numberA, w3!), null, 'never visible to number A');
        });
      }

      test("changes are routed by phone_number_id: a call to number B is B's only", async () => {
        const wacid = await t.fake.incomingCall({ phoneNumberId: t.numberB.phoneNumberId, from: nextPeer() });
        await t.fake.flush();
        assert.equal((await storedCall(t, t.numberB, wacid))?.status, 'RINGING');
        assert.equal(await storedCall(t, t.numberA, wacid), null);
      });

      test('one unusable update in a batch is skipped; the others apply and Meta gets 200', async () => {
        const good = `wacid.good${Date.now()}`;
        const from = nextPeer();
        const body = JSON.stringify(
          t.fake.buildWebhook(t.numberA.phoneNumberId, {
            calls: [
              { event: 'connect', direction: 'USER_INITIATED' },
              {
                id: good,
                from,
                to: t.numberA.displayPhoneNumber,
                event: 'connect',
                timestamp: String(Math.floor(Date.now() / 1000)),
                direction: 'USER_INITIATED',
              },
              { id: 'wacid.x', event: 'media_update', timestamp: 'soon' },
            ],
          }),
        );
        const res = await post(body, { 'x-hub-signature-256': signMetaBody(body, t.numberA.appSecret) });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal((await storedCall(t, t.numberA, good))?.status, 'RINGING');
      });

      test('a calls[] or statuses[] id no call can have (a NUL, 1000 chars) is skipped; the rest apply', async () => {
        const good = `wacid.goodid${Date.now()}`;
        const bad = ['wacid.a\u0000b', `wacid.${'Ab9+/'.repeat(200)}`];
        const now = String(Math.floor(Date.now() / 1000));
        const body = JSON.stringify(
          t.fake.buildWebhook(t.numberA.phoneNumberId, {
            calls: [
              ...bad.map((id) => ({
                id,
                from: nextPeer(),
                event: 'connect',
                timestamp: now,
                direction: 'USER_INITIATED',
              })),
              { id: good, from: nextPeer(), event: 'connect', timestamp: now, direction: 'USER_INITIATED' },
            ],
            statuses: bad.map((id) => ({ id, type: 'call', status: 'RINGING', timestamp: now })),
          }),
        );
        const res = await post(body, { 'x-hub-signature-256': signMetaBody(body, t.numberA.appSecret) });
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(res.json(), { received: 1 });
        assert.equal((await storedCall(t, t.numberA, good))?.status, 'RINGING');
        const calls = await listCallsForNumber(t.store.db, t.numberA.id, { limit: 100, cursor: null });
        assert.ok(!calls.some((c) => bad.includes(c.externalCallId)), 'no call stored under an id no call can have');
      });

      test('a NUL in what Meta sends is dropped (PostgreSQL refuses one): the call rings and ends all the same', async () => {
        const wacid = `wacid.nul${Date.now()}`;
        const now = String(Math.floor(Date.now() / 1000));
        const rang = await postSignedCalls(t, [
          {
            id: wacid,
            from_user_id: 'BR.\u0000NUL1',
            event: 'connect',
            timestamp: now,
            direction: 'USER_INITIATED',
            biz_opaque_callback_data: 'ticket-\u00007',
            session: { sdp_type: 'offer', sdp: 'v=0\r\n\u0000' },
          },
        ]);
        assert.equal(rang.statusCode, 200, rang.body);
        const ringing = await storedCall(t, t.numberA, wacid);
        assert.equal(ringing?.status, 'RINGING');
        assert.equal(ringing?.peerUserId, 'BR.NUL1');
        assert.equal(ringing?.bizOpaqueCallbackData, 'ticket-7');
        assert.equal(ringing?.sdpOffer, 'v=0\r\n');
        const ended = await postSignedCalls(
          t,
          [{ id: wacid, event: 'terminate', timestamp: now, direction: 'USER_INITIATED', status: 'FAILED' }],
          { errors: [{ code: '13\u00008021' }] },
        );
        assert.equal(ended.statusCode, 200, ended.body);
        assert.equal((await storedCall(t, t.numberA, wacid))?.endReason, '138021');
        // A terminate_reason likewise.
        const other = await ringingCall(t);
        const res = await postSignedCalls(t, [
          { id: other.externalCallId, event: 'terminate', timestamp: now, terminate_reason: 'gone\u0000' },
        ]);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal((await storedCall(t, t.numberA, other.id))?.endReason, 'gone');
      });

      test("an answered call hung up by the user: COMPLETED by PEER with Meta's duration; a lowercase status is understood", async () => {
        const wacid = await t.fake.incomingCall({ phoneNumberId: t.numberA.phoneNumberId, from: nextPeer() });
        await t.fake.flush();
        const accepted = await t.app.inject({
          method: 'POST',
          url: `/v1/calls/${encodeURIComponent(wacid)}/accept`,
          headers: { 'x-api-key': t.numberA.key.key },
          payload: { sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n' },
        });
        assert.equal(accepted.statusCode, 200, accepted.body);
        await t.fake.userHangsUp(wacid, { lowercaseStatus: true });
        await t.fake.flush();
        const call = await eventually(async () => {
          const c = await storedCall(t, t.numberA, wacid);
          return c?.status === 'COMPLETED' ? c : null;
        });
        assert.equal(call.endedBy, 'PEER');
        assert.equal(typeof call.durationSeconds, 'number');
        assert.deepEqual(await eventTypes(wacid), ['call.ringing', 'call.connected', 'call.ended']);
        const ended = (await outbox(t, call)).at(-1)!;
        assert.equal(ended.payload.durationSeconds, call.durationSeconds);
        assert.equal(ended.payload.sequence, 3);
      });

      test('an offer stamped in the future counts as received now: it still times out like any other', async () => {
        const wacid = `wacid.future${Date.now()}`;
        const res = await postSignedCalls(t, [
          {
            id: wacid,
            from: nextPeer(),
            to: t.numberA.displayPhoneNumber,
            event: 'connect',
            direction: 'USER_INITIATED',
            timestamp: String(Math.floor(Date.now() / 1000) + 365 * 86_400),
          },
        ]);
        assert.equal(res.statusCode, 200, res.body);
        const call = await eventually(() => storedCall(t, t.numberA, wacid), 3000, 'the call');
        assert.equal(call.status, 'RINGING');
        assert.ok(Math.abs(Date.parse(call.startedAt) - Date.now()) < 10_000, `startedAt ${call.startedAt}`);
      });

      test('an answered call Meta ends COMPLETED with errors[]: COMPLETED, by SYSTEM, the code as the reason', async () => {
        const { externalCallId: wacid } = await acceptedCall(t);
        const now = Math.floor(Date.now() / 1000);
        const res = await postSignedCalls(
          t,
          [
            {
              id: wacid,
              to: t.numberA.displayPhoneNumber,
              event: 'terminate',
              direction: 'USER_INITIATED',
              timestamp: String(now),
              status: 'Completed',
              start_time: String(now - 30),
              end_time: String(now),
              duration: '30',
            },
          ],
          { errors: [{ code: 138021, message: 'Media receive timeout' }] },
        );
        assert.equal(res.statusCode, 200, res.body);
        const call = await eventually(async () => {
          const c = await storedCall(t, t.numberA, wacid);
          return c?.status === 'COMPLETED' ? c : null;
        });
        assert.equal(call.endedBy, 'SYSTEM');
        assert.equal(call.endReason, '138021');
        assert.equal(call.durationSeconds, 30, "Meta's duration");
      });
    });
  });
}
