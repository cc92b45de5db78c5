// The media node's look for the sandbox's simulated users held by a process that is gone: the app's own node holds a
// ringing sandbox call (its row, its fresh heartbeat); a second node, on a clock the test moves, plays the other
// process.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../../test/helpers/build-test-app.ts';
import { ManualClock } from '../../../test/helpers/manual-clock.ts';
import { storeKinds } from '../../../test/helpers/stores.ts';
import type { NumberId } from '../../ids.ts';
import { createLogger } from '../../logger.ts';
import type { LostSandboxUser } from '../../store/sandbox-users.ts';
import { MediaNode } from './media-node.ts';

async function sandboxNumber(t: TestApp): Promise<{ id: NumberId; key: string }> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/numbers',
    headers: { 'x-api-key': t.tenantKey.key },
    payload: { provider: 'SANDBOX', name: 'Try it' },
  });
  assert.equal(res.statusCode, 201, res.body);
  return { id: res.json().number.id, key: res.json().apiKey.key };
}

async function ring(t: TestApp, key: string, from: string): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/sandbox/calls',
    headers: { 'x-api-key': key },
    payload: { from },
  });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().call.externalCallId;
}

const heldUsers = async (t: TestApp) =>
  (await t.store.db.query<{ external_call_id: string }>('SELECT external_call_id FROM sandbox_users')).map(
    (r) => r.external_call_id,
  );

/** Another process's node on the app's store; what it finds lost is only noted, nothing is ended. */
function otherNode(t: TestApp, clock: ManualClock, lost: LostSandboxUser[]): MediaNode {
  return new MediaNode({
    db: t.store.db,
    now: () => clock.now(),
    logger: createLogger('silent'),
    holding: () => 0,
    onSandboxUserLost: async (user) => {
      lost.push(user);
    },
  });
}

for (const kind of storeKinds()) {
  describe(`media node: sandbox users of a process that is gone (${kind})`, () => {
    test('another process takes them over once their holder has not beaten for 10 s, once each', async () => {
      const t = await buildTestApp(kind);
      try {
        const number = await sandboxNumber(t);
        const externalCallId = await ring(t, number.key, '+15550000001');
        assert.deepEqual(await heldUsers(t), [externalCallId], 'the row is written with the call');
        const clock = new ManualClock(Date.now());
        const lost: LostSandboxUser[] = [];
        const other = otherNode(t, clock, lost);

        await other.tickOnce();
        assert.deepEqual(lost, [], 'its holder beat a moment ago');
        // Far past the timeout: the app's own beats meanwhile, on the wall clock, are stale on this one.
        clock.advance(60_000);
        await other.tickOnce();
        assert.deepEqual(lost, [{ numberId: number.id, externalCallId, status: 'RINGING' }]);
        assert.deepEqual(await heldUsers(t), [], 'taken over, the row goes');
        await other.tickOnce();
        assert.equal(lost.length, 1, 'not taken over twice');
      } finally {
        await t.close();
      }
    });
  });
}
