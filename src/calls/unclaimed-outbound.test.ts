// The sweep's end of outbound calls no request stored, against a provider that answers each end: only a call this
// sweep actually ended counts and is logged as ended; one the provider says was already over (another process's
// sweep got there first) is forgotten quietly; one no request of ours accounts for is someone else's, left alone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { createTestStore, type TestStore } from '../../test/helpers/stores.ts';
import { newNumberId, newTenantId } from '../ids.ts';
import type { CallProvider } from '../providers/types.ts';
import { failure, ok } from '../providers/types.ts';
import { deleteNumberForTenant, insertNumber } from '../store/numbers.ts';
import { insertOutboundAttempt } from '../store/outbound-attempts.ts';
import { deleteExpiredParkedEvents, parkEvent, parkedForMs } from '../store/parked-events.ts';
import { insertTenant } from '../store/tenants.ts';
import { endUnclaimedOutboundCalls } from './unclaimed-outbound.ts';

let store: TestStore;
const numberId = newNumberId();
before(async () => {
  store = await createTestStore('sqlite');
  const tenantId = newTenantId();
  const at = new Date().toISOString();
  await insertTenant(store.db, { id: tenantId, name: 'Unclaimed', createdAt: at });
  await insertNumber(store.db, {
    id: numberId,
    tenantId,
    name: 'n',
    phoneNumber: '+551199999000',
    provider: 'META',
    metaPhoneNumberId: 'pn-1',
    publicConfig: {},
    secretConfig: 'unused',
    createdAt: at,
    updatedAt: at,
  });
});
after(() => store.dispose());

/** A provider that ends every call it is asked to, and the sweep's deps around it; `asked` lists the calls. */
function recordingSweep(providerTimeoutMs = 1_000) {
  const asked: string[] = [];
  const provider = {
    endCall: async (_n: unknown, call: { externalCallId: string }) => {
      asked.push(call.externalCallId);
      return ok;
    },
  } as unknown as CallProvider;
  return {
    asked,
    deps: { db: store.db, providers: () => provider, logger: pino({ level: 'silent' }), providerTimeoutMs },
  };
}

test('an end the provider answers "already ended" is not counted or logged as ended here', async () => {
  const parkedAt = new Date(Date.now() - 60_000);
  for (const id of ['wacid.ours', 'wacid.gone']) {
    await parkEvent(
      store.db,
      numberId,
      { type: 'progress', externalCallId: id, at: parkedAt.toISOString(), status: 'RINGING' },
      new Date(Date.now() - 30_000),
    );
  }
  // Both placed by requests of ours that died before storing them.
  for (let i = 0; i < 2; i++) {
    await insertOutboundAttempt(store.db, numberId, new Date(Date.now() - 40_000).toISOString());
  }
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line).msg) });
  const provider = {
    endCall: async (_n: unknown, call: { externalCallId: string }) =>
      call.externalCallId === 'wacid.ours' ? ok : failure('ALREADY_ENDED', 'Call not found or already ended'),
  } as unknown as CallProvider;
  const ended = await endUnclaimedOutboundCalls(
    { db: store.db, providers: () => provider, logger, providerTimeoutMs: 1_000 },
    new Date(),
  );
  assert.equal(ended, 1);
  assert.equal(lines.filter((l) => l.startsWith('ended at the provider')).length, 1, lines.join('\n'));
  assert.equal((await store.db.query('SELECT id FROM parked_events')).length, 0, 'both forgotten');
});

test('a call no request of ours accounts for (another app placed it on the number) is left alone', async () => {
  await parkEvent(
    store.db,
    numberId,
    { type: 'progress', externalCallId: 'wacid.theirs', at: new Date().toISOString(), status: 'RINGING' },
    new Date(Date.now() - 30_000),
  );
  // One attempt of ours, older than any unknown call could be its call.
  await insertOutboundAttempt(store.db, numberId, new Date(Date.now() - 10 * 60_000).toISOString());
  const { asked, deps } = recordingSweep();
  const ended = await endUnclaimedOutboundCalls(deps, new Date());
  assert.equal(ended, 0);
  assert.deepEqual(asked, [], 'never hung up');
  assert.equal((await store.db.query('SELECT id FROM parked_events')).length, 0, 'its events are dropped (R6)');
});

test('a call the provider could not be told about is tried again at the next sweep, with its attempt', async () => {
  await parkEvent(
    store.db,
    numberId,
    { type: 'progress', externalCallId: 'wacid.unreached', at: new Date().toISOString(), status: 'RINGING' },
    new Date(Date.now() - 30_000),
  );
  await insertOutboundAttempt(store.db, numberId, new Date(Date.now() - 40_000).toISOString());
  const answers = [failure('PROVIDER_DOWN', 'no answer'), ok];
  let asked = 0;
  const provider = {
    endCall: async () => answers[asked++],
  } as unknown as CallProvider;
  const deps = { db: store.db, providers: () => provider, logger: pino({ level: 'silent' }), providerTimeoutMs: 1_000 };
  assert.equal(await endUnclaimedOutboundCalls(deps, new Date()), 0);
  assert.equal(await endUnclaimedOutboundCalls(deps, new Date()), 1, 'ended at the second try');
  assert.equal(asked, 2);
});

test('a number deleted (force=true) while the provider could not be told leaves the sweep nothing to retry', async () => {
  const tenantId = newTenantId();
  const doomed = newNumberId();
  const at = new Date().toISOString();
  await insertTenant(store.db, { id: tenantId, name: 'Doomed', createdAt: at });
  await insertNumber(store.db, {
    id: doomed,
    tenantId,
    name: 'n',
    phoneNumber: '+551199999001',
    provider: 'META',
    metaPhoneNumberId: 'pn-2',
    publicConfig: {},
    secretConfig: 'unused',
    createdAt: at,
    updatedAt: at,
  });
  await parkEvent(
    store.db,
    doomed,
    { type: 'progress', externalCallId: 'wacid.doomed', at, status: 'RINGING' },
    new Date(Date.now() - 30_000),
  );
  await insertOutboundAttempt(store.db, doomed, new Date(Date.now() - 40_000).toISOString());
  const provider = {
    endCall: async () => {
      // Deleted while the end was on its way: its attempts and parked events go with it.
      await deleteNumberForTenant(store.db, tenantId, doomed, { withLiveCalls: true, placingSince: at });
      return failure('PROVIDER_DOWN', 'no answer');
    },
  } as unknown as CallProvider;
  const deps = { db: store.db, providers: () => provider, logger: pino({ level: 'silent' }), providerTimeoutMs: 1_000 };
  assert.equal(await endUnclaimedOutboundCalls(deps, new Date()), 0, 'the attempt is not put back, and nothing throws');
  assert.equal((await store.db.query('SELECT id FROM outbound_attempts WHERE number_id = $1', [doomed])).length, 0);
});

test('with a long PROVIDER_TIMEOUT_MS, a call whose request may still store it is left until it cannot', async () => {
  const timeoutMs = 60_000;
  const parkedAt = Date.now();
  const at = (ms: number) => new Date(parkedAt + ms);
  // The request was sent just before Meta's events came; Meta's answer to it may come up to its deadline.
  await insertOutboundAttempt(store.db, numberId, at(-1_000).toISOString());
  await parkEvent(
    store.db,
    numberId,
    { type: 'progress', externalCallId: 'wacid.slow', at: at(0).toISOString(), status: 'RINGING' },
    at(0),
    parkedForMs(timeoutMs),
  );
  const { asked, deps } = recordingSweep(timeoutMs);
  // The sweeper's turn: the unclaimed calls, then expired events go.
  const sweep = async (now: Date) => {
    await endUnclaimedOutboundCalls(deps, now);
    await deleteExpiredParkedEvents(store.db, now.toISOString());
  };
  await sweep(at(timeoutMs - 5_000));
  assert.deepEqual(asked, [], 'not while Meta may still answer the request, which then stores the call');
  const kept = await store.db.query('SELECT id FROM parked_events WHERE external_call_id = $1', ['wacid.slow']);
  assert.equal(kept.length, 1, 'its events still wait for the request');
  await sweep(at(timeoutMs + 11_000));
  assert.deepEqual(asked, ['wacid.slow'], 'ended once no request can store it');
});

test('a request of ours still in flight does not account for a call parked before it began', async () => {
  // Another app's call on the number: its events came 30 s ago.
  await parkEvent(
    store.db,
    numberId,
    { type: 'progress', externalCallId: 'wacid.another-app', at: new Date().toISOString(), status: 'RINGING' },
    new Date(Date.now() - 30_000),
  );
  // A POST /v1/calls of ours asking Meta right now: its attempt is a second old, its call not yet stored.
  await insertOutboundAttempt(store.db, numberId, new Date(Date.now() - 1_000).toISOString());
  const { asked, deps } = recordingSweep();
  assert.equal(await endUnclaimedOutboundCalls(deps, new Date()), 0);
  assert.deepEqual(asked, [], 'not ours to hang up: our request began after it rang');
  const left = await store.db.query('SELECT id FROM outbound_attempts WHERE created_at > $1', [
    new Date(Date.now() - 5_000).toISOString(),
  ]);
  assert.equal(left.length, 1, 'the request’s attempt is still its own');
  // The request stores its call, which removes its attempt: the other app's call is then left alone for good.
  await store.db.execute('DELETE FROM outbound_attempts');
  assert.equal(await endUnclaimedOutboundCalls(deps, new Date(Date.now() + 1_000)), 0);
  assert.deepEqual(asked, []);
  assert.equal((await store.db.query('SELECT id FROM parked_events')).length, 0, 'its events dropped (R6)');
});

test('the attempt of a call whose request ran on a host with its clock ahead is awaited, not taken as none', async () => {
  const timeoutMs = 1_000;
  const now = Date.now();
  // The sweep waits PROVIDER_TIMEOUT_MS + 10 s after the events; the request's host wrote its attempt 2 s "later".
  const cutoff = now - (timeoutMs + 10_000);
  await parkEvent(
    store.db,
    numberId,
    { type: 'progress', externalCallId: 'wacid.skewed', at: new Date(cutoff).toISOString(), status: 'RINGING' },
    new Date(cutoff - 1_000),
  );
  await insertOutboundAttempt(store.db, numberId, new Date(cutoff + 2_000).toISOString());
  const { asked, deps } = recordingSweep(timeoutMs);
  assert.equal(await endUnclaimedOutboundCalls(deps, new Date(now)), 0);
  assert.equal(await endUnclaimedOutboundCalls(deps, new Date(now + 5_000)), 1, 'ended once its attempt counts');
  assert.deepEqual(asked, ['wacid.skewed']);
});

test('another process sweeping while this one’s end is under way leaves the call to be tried again', async () => {
  await parkEvent(
    store.db,
    numberId,
    { type: 'progress', externalCallId: 'wacid.contended', at: new Date().toISOString(), status: 'RINGING' },
    new Date(Date.now() - 30_000),
  );
  await insertOutboundAttempt(store.db, numberId, new Date(Date.now() - 40_000).toISOString());
  const logger = pino({ level: 'silent' });
  let asked = 0;
  const elsewhere = {
    endCall: async () => {
      throw new Error('the other process must not end a call this one is dealing with');
    },
  } as unknown as CallProvider;
  const provider = {
    endCall: async () => {
      asked++;
      if (asked > 1) {
        return ok;
      }
      // While Meta is slow to answer this end, another process's sweep comes by the same call.
      await endUnclaimedOutboundCalls(
        { db: store.db, providers: () => elsewhere, logger, providerTimeoutMs: 1_000 },
        new Date(),
      );
      return failure('PROVIDER_DOWN', 'no answer');
    },
  } as unknown as CallProvider;
  const deps = { db: store.db, providers: () => provider, logger, providerTimeoutMs: 1_000 };
  assert.equal(await endUnclaimedOutboundCalls(deps, new Date()), 0);
  assert.equal(await endUnclaimedOutboundCalls(deps, new Date()), 1, 'ended at the second try');
  assert.equal(asked, 2);
});
