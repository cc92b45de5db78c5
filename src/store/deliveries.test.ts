// Claims and batch settlements of the delivery outbox, on every store: nothing claimed twice or lost,
// per-call order, the per-webhook cap, expired leases, and settlements that only count under their lease.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { emitEvents } from '../../test/e2e/webhook-helpers.ts';
import { insertBareNumber } from '../../test/helpers/bare-number.ts';
import { listDeliveriesForWebhook } from '../../test/helpers/store-reads.ts';
import { createTestStore, storeKinds, type TestStore } from '../../test/helpers/stores.ts';
import { persistCallSideEvent } from '../calls/outbox.ts';
import { type CallId, type NumberId, newTenantId, newWebhookId, type TenantId, type WebhookId } from '../ids.ts';
import type { Call } from '../model/call.ts';
import type { Db } from './db.ts';
import {
  failDeliveriesOfGoneWebhooks,
  failPendingDeliveriesOfWebhook,
  failRetriesOfDisabledWebhook,
  failUnsubscribedDeliveries,
  HELD_UNTIL,
  holdDeliveriesOfWebhook,
  reconcileHeldDeliveries,
  releaseHeldDeliveries,
  requeueDelivery,
} from './deliveries.ts';
import {
  type FinishedAttempt,
  listAttemptsForWebhook,
  recordFinishedAttempts,
  type Settlement,
} from './delivery-attempts.ts';
import { type ClaimedDelivery, claimDueDeliveries } from './delivery-claims.ts';
import { settleTries } from './settle-tries.ts';
import { insertTenant } from './tenants.ts';
import { deleteWebhookInScope, disableWebhook, getWebhookInScope, insertWebhook, updateWebhook } from './webhooks.ts';

const inAMinute = () => new Date(Date.now() + 60_000).toISOString();
let tokens = 0;

function finished(d: ClaimedDelivery, settlement: Settlement = { status: 'SUCCESS' }): FinishedAttempt {
  return {
    attempt: {
      webhookId: d.webhookId,
      eventId: d.eventId,
      eventType: d.eventType,
      attempt: d.attempt,
      status: settlement.status === 'SUCCESS' ? 'SUCCESS' : 'FAILED',
      statusCode: settlement.status === 'SUCCESS' ? 200 : 500,
      durationMs: 1,
      error: null,
      responseBody: null,
      createdAt: new Date().toISOString(),
    },
    token: d.leaseToken,
    settlement,
    deliveryError: null,
  };
}

for (const kind of storeKinds()) {
  describe(`delivery claims and settlements [${kind}]`, () => {
    let store: TestStore;

    /** One worker's claim of the due deliveries (100 at most), leased for a minute unless told. */
    const claimDue = (opts: { perWebhookLimit?: number; leaseUntil?: string } = {}) =>
      claimDueDeliveries(store.db, {
        now: new Date().toISOString(),
        leaseUntil: opts.leaseUntil ?? inAMinute(),
        token: `t${tokens++}`,
        limit: 100,
        perWebhookLimit: opts.perWebhookLimit ?? 100,
      });

    before(async () => {
      store = await createTestStore(kind);
    });
    after(async () => {
      await store.dispose();
    });

    /** A number with `webhooks` subscribed webhooks, on its own tenant so tests do not see each other's deliveries. */
    async function owner(
      webhooks: number,
    ): Promise<{ tenantId: TenantId; numberId: NumberId; webhookIds: WebhookId[] }> {
      const tenantId = newTenantId();
      const now = new Date().toISOString();
      await insertTenant(store.db, { id: tenantId, name: 'Claims', createdAt: now });
      const numberId = await insertBareNumber(store.db, tenantId);
      const webhookIds: WebhookId[] = [];
      for (let i = 0; i < webhooks; i++) {
        const id = newWebhookId();
        await insertWebhook(store.db, {
          id,
          tenantId,
          numberId,
          name: null,
          url: 'http://127.0.0.1:9/hook',
          events: ['*'],
          active: true,
          secret: 'sealed',
          previousSecret: null,
          previousSecretExpiresAt: null,
          disabledReason: null,
          createdAt: now,
          updatedAt: now,
        });
        webhookIds.push(id);
      }
      return { tenantId, numberId, webhookIds };
    }

    /** Every due delivery claimed by `claimers` claiming at once, in small batches, and each settled as SUCCESS. */
    async function drain(claimers: number, limit: number, perWebhookLimit = 1000): Promise<ClaimedDelivery[]> {
      const all: ClaimedDelivery[] = [];
      let idle = 0;
      while (idle < 3) {
        const rounds = await Promise.all(
          Array.from({ length: claimers }, () =>
            claimDueDeliveries(store.db, {
              now: new Date().toISOString(),
              leaseUntil: inAMinute(),
              token: `t${tokens++}`,
              limit,
              perWebhookLimit,
            }),
          ),
        );
        const got = rounds.flat();
        idle = got.length === 0 ? idle + 1 : 0;
        all.push(...got);
        await store.db.transaction((tx) =>
          recordFinishedAttempts(
            tx,
            got.map((d) => finished(d)),
            new Date().toISOString(),
          ),
        );
      }
      return all;
    }

    test('claims in batches by concurrent claimers take every delivery exactly once', async () => {
      const o = await owner(3);
      const specs = Array.from({ length: 120 }, (_, i) => ({
        type: 'call.ringing',
        callId: `call_batch_${i % 40}`,
        sequence: Math.floor(i / 40) + 1,
      }));
      const ids = await emitEvents(store.db, o, specs);
      const claimed = (await drain(3, 7)).filter((d) => o.webhookIds.includes(d.webhookId));
      const keys = claimed.map((d) => `${d.webhookId} ${d.eventId}`);
      assert.equal(new Set(keys).size, keys.length, 'no delivery claimed twice');
      assert.equal(keys.length, ids.length * 3, 'every delivery of every webhook claimed');
      for (const id of o.webhookIds) {
        const rows = await listDeliveriesForWebhook(store.db, id);
        assert.deepEqual([...new Set(rows.map((r) => r.status))], ['SUCCESS']);
        assert.ok(rows.every((r) => r.attempts === 1));
      }
    });

    test('a later event of a call is not claimed while an earlier one is due or in flight', async () => {
      const o = await owner(1);
      const callId = 'call_order_claims';
      const [first, second, third] = await emitEvents(
        store.db,
        o,
        [1, 2, 3].map((sequence) => ({ type: 'call.ringing', callId, sequence })),
      );
      const claim = () => claimDue().then((ds) => ds.filter((d) => d.webhookId === o.webhookIds[0]));
      const a = await claim();
      assert.deepEqual(
        a.map((d) => d.eventId),
        [first],
      );
      assert.deepEqual(await claim(), [], 'the second waits while the first is in flight');
      // The first fails and waits for its retry: the next event goes ahead (receivers order by sequence).
      const retryAt = inAMinute();
      await store.db.transaction((tx) =>
        recordFinishedAttempts(
          tx,
          [finished(a[0]!, { status: 'PENDING', nextAttemptAt: retryAt })],
          new Date().toISOString(),
        ),
      );
      // The log shows when the failed delivery goes again (Pilot's logs keep callgate's nextAttemptAt).
      const [failedEntry] = await listAttemptsForWebhook(store.db, o.webhookIds[0]!, { limit: 10, eventType: null });
      assert.equal(failedEntry?.nextAttemptAt, retryAt);
      assert.equal(failedEntry?.status, 'FAILED');
      const b = await claim();
      assert.deepEqual(
        b.map((d) => d.eventId),
        [second],
      );
      await store.db.transaction((tx) => recordFinishedAttempts(tx, [finished(b[0]!)], new Date().toISOString()));
      assert.deepEqual(
        (await claim()).map((d) => d.eventId),
        [third],
      );
    });

    /** One worker round for one webhook: what it claims is delivered at once. Answers the types claimed. */
    const deliverRound = async (webhookId: WebhookId): Promise<string[]> => {
      const claimed = (await claimDue()).filter((d) => d.webhookId === webhookId);
      await store.db.transaction((tx) =>
        recordFinishedAttempts(
          tx,
          claimed.map((d) => finished(d)),
          new Date().toISOString(),
        ),
      );
      return claimed.map((d) => d.eventType);
    };

    test('a call.dtmf goes before the call.ended after it, and call.recording_ready after it', async () => {
      const o = await owner(1);
      const callId = 'call_side_order' as CallId;
      const now = new Date().toISOString();
      const rounds: string[][] = [];
      const claimRound = async () => rounds.push(await deliverRound(o.webhookIds[0]!));
      await emitEvents(store.db, o, [{ type: 'call.connected', callId, sequence: 2 }]);
      await claimRound();
      // The caller presses a key and hangs up; a moment later the recording is done: all due together.
      const live = { id: callId, tenantId: o.tenantId, numberId: o.numberId, status: 'ACCEPTED', eventSeq: 2 } as Call;
      await store.db.transaction((tx) => persistCallSideEvent(tx, live, 'call.dtmf', { digit: '5', count: 1 }, now));
      await emitEvents(store.db, o, [{ type: 'call.ended', callId, sequence: 3 }]);
      const over = { ...live, status: 'COMPLETED', eventSeq: 3 } as Call;
      await store.db.transaction((tx) => persistCallSideEvent(tx, over, 'call.recording_ready', {}, now));
      for (let round = 0; round < 4; round++) {
        await claimRound();
      }
      assert.deepEqual(rounds, [['call.connected'], ['call.dtmf'], ['call.ended'], ['call.recording_ready'], []]);
    });

    test('a key pressed while its call.connected is still due waits for it', async () => {
      const o = await owner(1);
      const callId = 'call_side_connected' as CallId;
      const now = new Date().toISOString();
      const rounds: string[][] = [];
      await emitEvents(store.db, o, [{ type: 'call.connected', callId, sequence: 2 }]);
      const live = { id: callId, tenantId: o.tenantId, numberId: o.numberId, status: 'ACCEPTED', eventSeq: 2 } as Call;
      await store.db.transaction((tx) => persistCallSideEvent(tx, live, 'call.dtmf', { digit: '1', count: 1 }, now));
      for (let round = 0; round < 3; round++) {
        rounds.push(await deliverRound(o.webhookIds[0]!));
      }
      assert.deepEqual(rounds, [['call.connected'], ['call.dtmf'], []]);
    });

    test('after a replay, only the latest try of a delivery shows its next attempt in the log', async () => {
      const o = await owner(1);
      const webhookId = o.webhookIds[0]!;
      const [eventId] = await emitEvents(store.db, o, [
        { type: 'call.ringing', callId: 'call_replay_log', sequence: 1 },
      ]);
      const failOnce = async (nextAttemptAt: string) => {
        const [d] = (await claimDue()).filter((c) => c.webhookId === webhookId);
        assert.equal(d?.attempt, 1);
        await store.db.transaction((tx) =>
          recordFinishedAttempts(tx, [finished(d!, { status: 'PENDING', nextAttemptAt })], new Date().toISOString()),
        );
      };
      await failOnce(new Date(Date.now() - 1).toISOString());
      // Replayed: the same delivery starts over from attempt 1, and that try fails too.
      await requeueDelivery(
        store.db,
        { webhookId, eventId: eventId!, eventType: 'call.ringing', callId: 'call_replay_log' as never, sequence: 1 },
        new Date().toISOString(),
      );
      const retryAt = inAMinute();
      await failOnce(retryAt);
      const logs = await listAttemptsForWebhook(store.db, webhookId, { limit: 10, eventType: null });
      assert.deepEqual(
        logs.map((l) => [l.attempt, l.nextAttemptAt]),
        [
          [1, retryAt],
          [1, null],
        ],
        'attempt 1 of the first round is not tried again',
      );
    });

    test('a replay for a webhook deleted since it was read queues nothing and says so (a 404, not a 500)', async () => {
      const o = await owner(1);
      const webhookId = o.webhookIds[0]!;
      const [eventId] = await emitEvents(store.db, o, [
        { type: 'call.ringing', callId: 'call_replay_gone', sequence: 1 },
      ]);
      assert.ok(await deleteWebhookInScope(store.db, { tenantId: o.tenantId, numberId: o.numberId }, webhookId));
      const queued = await requeueDelivery(
        store.db,
        { webhookId, eventId: eventId!, eventType: 'call.ringing', callId: 'call_replay_gone' as never, sequence: 1 },
        new Date().toISOString(),
      );
      assert.equal(queued, false);
      assert.deepEqual(await listDeliveriesForWebhook(store.db, webhookId), []);
    });

    test("a try whose answer holds NUL bytes is recorded (PostgreSQL's text cannot hold them)", async () => {
      const o = await owner(1);
      const webhookId = o.webhookIds[0]!;
      await emitEvents(store.db, o, [{ type: 'call.ringing' }]);
      const [d] = (await claimDue()).filter((c) => c.webhookId === webhookId);
      const answer = finished(d!);
      answer.attempt.responseBody = 'ok\u0000\u0000done';
      answer.attempt.error = 'odd\u0000error';
      const settled = await store.db.transaction((tx) =>
        recordFinishedAttempts(tx, [answer], new Date().toISOString()),
      );
      assert.deepEqual([...settled], [`${webhookId} ${d!.eventId}`]);
      const [entry] = await listAttemptsForWebhook(store.db, webhookId, { limit: 10, eventType: null });
      assert.equal(entry?.responseBody, 'ok\ufffd\ufffddone');
      assert.equal(entry?.error, 'odd\ufffderror');
    });

    // PostgreSQL only: SQLite has one writer, so nothing can land inside the fan-out.
    const onPostgres = kind === 'postgres' ? test : () => undefined;
    onPostgres('a webhook deleted while an event fans out to it does not fail the event', async () => {
      const o = await owner(1);
      const webhookId = o.webhookIds[0]!;
      let deleted: Promise<boolean> | null = null;
      /** True once the DELETE waits for a lock: it cannot commit before the fan-out's transaction does. */
      const deleteWaits = async () => {
        for (;;) {
          const [row] = await store.db.query<{ n: number | string }>(
            `SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM webhooks%'`,
          );
          if (Number(row?.n) > 0) {
            return 'waits';
          }
          await new Promise((r) => setImmediate(r));
        }
      };
      // The deletion lands between the fan-out's read of the webhooks and its INSERT of the delivery.
      await store.db.transaction(async (tx) => {
        const racing: Db = {
          dialect: tx.dialect,
          query: (sql, params) => tx.query(sql, params),
          execute: async (sql, params, opts) => {
            if (deleted === null && sql.includes('INSERT INTO deliveries')) {
              deleted = deleteWebhookInScope(store.db, { tenantId: o.tenantId, numberId: o.numberId }, webhookId);
              await Promise.race([deleted, deleteWaits()]);
            }
            return tx.execute(sql, params, opts);
          },
          transaction: (fn) => fn(racing),
          close: () => tx.close(),
        };
        await emitEvents(racing, o, [{ type: 'call.ringing' }]);
      });
      assert.equal(await deleted, true, 'the deletion goes through once the event has committed');
      assert.deepEqual(await listDeliveriesForWebhook(store.db, webhookId), []);
    });

    test('a claim never leases more than the per-webhook cap, counting leases already held', async () => {
      const o = await owner(2);
      await emitEvents(
        store.db,
        o,
        Array.from({ length: 10 }, () => ({ type: 'call.ringing' })),
      );
      const claim = () =>
        claimDue({ perWebhookLimit: 3 }).then((ds) => ds.filter((d) => o.webhookIds.includes(d.webhookId)));
      const count = (ds: ClaimedDelivery[], id: WebhookId) => ds.filter((d) => d.webhookId === id).length;
      const first = await claim();
      assert.deepEqual(
        o.webhookIds.map((id) => count(first, id)),
        [3, 3],
      );
      assert.deepEqual(await claim(), [], 'both webhooks are at their cap');
      await store.db.transaction((tx) =>
        recordFinishedAttempts(
          tx,
          first.filter((d) => d.webhookId === o.webhookIds[0]).map((d) => finished(d)),
          new Date().toISOString(),
        ),
      );
      const second = await claim();
      assert.deepEqual(
        o.webhookIds.map((id) => count(second, id)),
        [3, 0],
        'only the webhook with free slots gets more',
      );
    });

    test('an inactive webhook gets nothing; turned on again, its backlog flows', async () => {
      const o = await owner(1);
      const webhookId = o.webhookIds[0]!;
      const scope = { tenantId: o.tenantId, numberId: null };
      const w = (await getWebhookInScope(store.db, scope, webhookId))!;
      await emitEvents(store.db, o, [{ type: 'call.ringing' }, { type: 'call.ended' }]);
      await updateWebhook(store.db, { ...w, active: false });
      const claim = () => claimDue().then((ds) => ds.filter((d) => d.webhookId === webhookId));
      assert.deepEqual(await claim(), []);
      await updateWebhook(store.db, { ...w, active: true });
      assert.equal((await claim()).length, 2);
    });

    test("the sweeper's pass: due rows of a paused webhook are held, held rows of an active one released, old ones failed", async () => {
      const o = await owner(2);
      const [pausedId, activeId] = o.webhookIds as [WebhookId, WebhookId];
      const scope = { tenantId: o.tenantId, numberId: null };
      await emitEvents(store.db, o, [{ type: 'call.ringing' }]);
      // As races leave them: the paused webhook's row due, the active one's held.
      const paused = (await getWebhookInScope(store.db, scope, pausedId))!;
      await updateWebhook(store.db, { ...paused, active: false });
      await store.db.execute('UPDATE deliveries SET next_attempt_at = $1 WHERE webhook_id = $2', [
        HELD_UNTIL,
        activeId,
      ]);
      const now = new Date().toISOString();
      const long = new Date(Date.now() - 86_400_000).toISOString();
      assert.deepEqual(await reconcileHeldDeliveries(store.db, long, now), { expired: 0, released: 1, held: 1 });
      assert.equal((await listDeliveriesForWebhook(store.db, pausedId))[0]?.nextAttemptAt, HELD_UNTIL);
      assert.notEqual((await listDeliveriesForWebhook(store.db, activeId))[0]?.nextAttemptAt, HELD_UNTIL);
      // Held for longer than the span: failed, with the reason.
      const later = new Date(Date.now() + 2 * 86_400_000).toISOString();
      const expiredBefore = new Date(Date.now() + 86_400_000).toISOString();
      assert.deepEqual(await reconcileHeldDeliveries(store.db, expiredBefore, later), {
        expired: 1,
        released: 0,
        held: 0,
      });
      const [failed] = await listDeliveriesForWebhook(store.db, pausedId);
      assert.equal(failed?.status, 'FAILED');
      assert.match(failed?.lastError ?? '', /paused for longer than the retry schedule/);
    });

    test('an expired lease is claimed again, and the late result under the old lease does not count', async () => {
      const o = await owner(1);
      const [id] = await emitEvents(store.db, o, [{ type: 'call.ended' }]);
      const claim = (leaseUntil: string) =>
        claimDue({ leaseUntil }).then((ds) => ds.filter((d) => d.webhookId === o.webhookIds[0]));
      const [crashed] = await claim(new Date(Date.now() - 1000).toISOString()); // a worker that died: its lease is already over
      assert.equal(crashed?.eventId, id);
      const [again] = await claim(inAMinute());
      assert.equal(again?.eventId, id, 'taken again after the lease expired');
      assert.equal(again!.attempt, 1, 'a crash does not use up an attempt');
      const now = new Date().toISOString();
      const late = await store.db.transaction((tx) => recordFinishedAttempts(tx, [finished(crashed!)], now));
      assert.equal(late.size, 0, 'the old lease settles nothing');
      const current = await store.db.transaction((tx) => recordFinishedAttempts(tx, [finished(again!)], now));
      assert.deepEqual([...current], [`${again!.webhookId} ${id}`]);
    });

    test('a type taken out while its try was under way is not tried again', async () => {
      const o = await owner(1);
      const webhookId = o.webhookIds[0]!;
      const scope = { tenantId: o.tenantId, numberId: null };
      const w = (await getWebhookInScope(store.db, scope, webhookId))!;
      await updateWebhook(store.db, { ...w, events: ['call.ringing', 'call.ended'] });
      const [ringing, ended] = await emitEvents(store.db, o, [{ type: 'call.ringing' }, { type: 'call.ended' }]);
      const claim = () => claimDue().then((ds) => ds.filter((d) => d.webhookId === webhookId));
      const inFlight = await claim();
      assert.equal(inFlight.length, 2);
      // The PATCH: leased rows are left to their try, which fails and is put back for a retry due at once.
      await store.db.transaction(async (tx) => {
        await updateWebhook(tx, { ...w, events: ['call.ended'] });
        assert.equal(await failUnsubscribedDeliveries(tx, webhookId, ['call.ended'], new Date().toISOString()), 0);
      });
      const retry = { status: 'PENDING', nextAttemptAt: new Date(Date.now() - 1000).toISOString() } as const;
      await store.db.transaction((tx) =>
        recordFinishedAttempts(
          tx,
          inFlight.map((d) => finished(d, retry)),
          new Date().toISOString(),
        ),
      );
      assert.deepEqual(
        (await claim()).map((d) => d.eventId),
        [ended],
      );
      const dropped = (await listDeliveriesForWebhook(store.db, webhookId)).find((d) => d.eventId === ringing);
      assert.equal(dropped?.status, 'FAILED');
      assert.match(dropped?.lastError ?? '', /no longer subscribes/);
    });

    test('a retry recorded while another worker records a 410 for its webhook fails, whichever commits first', async () => {
      const o = await owner(1);
      const webhookId = o.webhookIds[0]!;
      const [eventId] = await emitEvents(store.db, o, [{ type: 'call.ringing' }]);
      const [leased] = (await claimDue()).filter((d) => d.webhookId === webhookId);
      assert.equal(leased?.eventId, eventId);
      const reason = 'receiver answered 410 Gone';
      // Worker A records a 410 of another try: its webhook off, its pending rows failed, the leased one left to its try.
      let goneRecorded!: () => void;
      const recorded = new Promise<void>((resolve) => {
        goneRecorded = resolve;
      });
      let commitGone!: () => void;
      const commit = new Promise<void>((resolve) => {
        commitGone = resolve;
      });
      const workerA = store.db.transaction(async (tx) => {
        const now = new Date().toISOString();
        await disableWebhook(tx, webhookId, reason, now);
        await failPendingDeliveriesOfWebhook(tx, webhookId, `webhook disabled: ${reason}`, now);
        goneRecorded();
        await commit;
      });
      await recorded;
      // Worker B meanwhile records that try as failed, to be tried again.
      const retry = { status: 'PENDING', nextAttemptAt: new Date().toISOString() } as const;
      const workerB = store.db.transaction(async (tx) => {
        const now = new Date().toISOString();
        await recordFinishedAttempts(tx, [finished(leased!, retry)], now);
        await failRetriesOfDisabledWebhook(tx, webhookId, reason, now);
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      commitGone();
      await Promise.all([workerA, workerB]);
      const [row] = await listDeliveriesForWebhook(store.db, webhookId);
      assert.equal(row?.status, 'FAILED', 'not left PENDING for a webhook nothing sends to');
      assert.match(row?.lastError ?? '', /webhook disabled/);
    });

    test('two workers each recording a 410 for the webhook the other retries both commit: no deadlock', async () => {
      const reason = 'receiver answered 410 Gone';
      // Each round crosses the two workers' locks: A turns W1 off and retries a try of W2, B the reverse. Taken in
      // the batch's order, A held W1 and waited for W2 while B held W2 and waited for W1.
      for (let round = 0; round < 5; round++) {
        const o = await owner(2);
        const [w1, w2] = o.webhookIds as [WebhookId, WebhookId];
        const [e1, e2] = await emitEvents(store.db, o, [{ type: 'call.ringing' }, { type: 'call.ended' }]);
        const claimed = (await claimDue()).filter((d) => o.webhookIds.includes(d.webhookId));
        assert.equal(claimed.length, 4);
        const leased = (w: WebhookId, e: string) => claimed.find((d) => d.webhookId === w && d.eventId === e)!;
        const retry = { status: 'PENDING', nextAttemptAt: new Date().toISOString() } as const;
        const gone = { status: 'FAILED' } as const;
        const worker = (goneTry: ClaimedDelivery, retriedTry: ClaimedDelivery) =>
          store.db.transaction((tx) =>
            settleTries(
              tx,
              [
                { record: finished(goneTry, gone), gone: true },
                { record: finished(retriedTry, retry), gone: false },
              ],
              reason,
              new Date().toISOString(),
            ),
          );
        const results = await Promise.allSettled([
          worker(leased(w1, e1!), leased(w2, e1!)),
          worker(leased(w2, e2!), leased(w1, e2!)),
        ]);
        for (const r of results) {
          assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
        }
        for (const w of [w1, w2]) {
          assert.equal(
            (await getWebhookInScope(store.db, { tenantId: o.tenantId, numberId: null }, w))?.disabledReason,
            reason,
          );
          const rows = await listDeliveriesForWebhook(store.db, w);
          assert.deepEqual(
            rows.map((d) => d.status),
            ['FAILED', 'FAILED'],
            'the 410 and the retry of a disabled webhook both fail',
          );
        }
      }
    });

    test('a try whose worker died while its webhook got a 410 fails once its lease is over, not left PENDING', async () => {
      const o = await owner(1);
      const webhookId = o.webhookIds[0]!;
      await emitEvents(store.db, o, [{ type: 'call.ringing' }]);
      // Leased by a worker that then dies: its lease runs out a moment later and nobody records its try.
      const [leased] = (await claimDue({ leaseUntil: new Date(Date.now() + 200).toISOString() })).filter(
        (d) => d.webhookId === webhookId,
      );
      assert.ok(leased);
      const reason = 'receiver answered 410 Gone';
      await store.db.transaction(async (tx) => {
        const now = new Date().toISOString();
        await disableWebhook(tx, webhookId, reason, now);
        await failPendingDeliveriesOfWebhook(tx, webhookId, `webhook disabled: ${reason}`, now);
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await failDeliveriesOfGoneWebhooks(store.db, new Date().toISOString());
      const [row] = await listDeliveriesForWebhook(store.db, webhookId);
      assert.equal(row?.status, 'FAILED', 'no worker sends to a disabled webhook, and none will record this try');
      assert.equal(row?.lastError, `webhook disabled: ${reason}`);
    });

    test('a replay held while a 410 has the webhook off waits for it to be turned on again', async () => {
      const o = await owner(1);
      const webhookId = o.webhookIds[0]!;
      const [eventId] = await emitEvents(store.db, o, [{ type: 'call.ringing' }]);
      const reason = 'receiver answered 410 Gone';
      await store.db.transaction(async (tx) => {
        const now = new Date().toISOString();
        await disableWebhook(tx, webhookId, reason, now);
        await failPendingDeliveriesOfWebhook(tx, webhookId, `webhook disabled: ${reason}`, now);
      });
      // The receiver is fixed: the customer replays the event (held, as the service does while the webhook is off)…
      const now = new Date().toISOString();
      await requeueDelivery(
        store.db,
        { webhookId, eventId: eventId!, eventType: 'call.ringing', callId: null, sequence: null },
        now,
      );
      await holdDeliveriesOfWebhook(store.db, webhookId, now);
      // …and the sweeper passes before they turn the webhook on again.
      await failDeliveriesOfGoneWebhooks(store.db, new Date().toISOString());
      const [held] = await listDeliveriesForWebhook(store.db, webhookId);
      assert.equal(held?.status, 'PENDING', 'the replay still waits');
      assert.equal(held?.nextAttemptAt, HELD_UNTIL);
      await releaseHeldDeliveries(store.db, webhookId, new Date().toISOString(), new Date(0).toISOString());
      const [released] = await listDeliveriesForWebhook(store.db, webhookId);
      assert.equal(released?.status, 'PENDING');
      assert.notEqual(released?.nextAttemptAt, HELD_UNTIL, 'due once the webhook is on again');
    });

    test('a batch settlement skips a webhook deleted meanwhile and records the others', async () => {
      const o = await owner(2);
      await emitEvents(store.db, o, [{ type: 'call.ringing' }]);
      const claimed = (await claimDue()).filter((d) => o.webhookIds.includes(d.webhookId));
      assert.equal(claimed.length, 2);
      assert.ok(await deleteWebhookInScope(store.db, { tenantId: o.tenantId, numberId: null }, o.webhookIds[0]!));
      const settled = await store.db.transaction((tx) =>
        recordFinishedAttempts(
          tx,
          claimed.map((d) => finished(d)),
          new Date().toISOString(),
        ),
      );
      assert.deepEqual(
        [...settled],
        [`${o.webhookIds[1]} ${claimed.find((d) => d.webhookId === o.webhookIds[1])!.eventId}`],
      );
      const [kept] = await listDeliveriesForWebhook(store.db, o.webhookIds[1]!);
      assert.equal(kept?.status, 'SUCCESS');
    });
  });
}
