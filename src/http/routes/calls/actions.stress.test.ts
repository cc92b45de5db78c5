// Every action on one ringing call at once (terminate, accept, pre-accept, reject, some with an Idempotency-Key, the
// caller hanging up, its end sent twice), in one process and split over two sharing PostgreSQL. Whatever the
// interleaving, the invariants hold: terminate always 200, nothing 5xx but a provider's refusal of an accept or
// reject that lost its race, no slot left taken, one call.ended, events numbered without gaps, and the provider
// agreeing. A web number's call gets the same storm, its business's phone answering among it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { outbox, ringingCall, storedCall } from '../../../../test/helpers/calls.ts';
import { addWebNumber, ringingWebCall, type WebNumber, webCall } from '../../../../test/helpers/evolution.ts';
import type { Json } from '../../../../test/helpers/json.ts';
import { missing } from '../../../../test/helpers/requirements.ts';
import { type ServerProcess, startServerProcess } from '../../../../test/helpers/server-process.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { isTerminal } from '../../../model/call.ts';

const ROUNDS = 12;
const OPS = ['terminate', 'accept', 'reject', 'pre-accept', 'hangup', 'terminate', 'accept'] as const;

interface Outcome {
  op: string;
  status: number;
  body: Json;
}

/** Runs 10 operations picked by `round` on the call at once; `post(i, path, ...)` sends the i-th one's request. */
async function storm(
  t: TestApp,
  round: number,
  post: (i: number, path: string, body: object | null, headers: Record<string, string>) => Promise<Outcome>,
): Promise<void> {
  const call = await ringingCall(t);
  const ops: Promise<Outcome>[] = [];
  for (let i = 0; i < 10; i++) {
    const op = OPS[(round * 5 + i * 3) % OPS.length] as (typeof OPS)[number];
    if (op === 'hangup') {
      // Meta sending its end more than once in odd storms: a duplicate is no second end.
      const twice = round % 2 === 1 ? { duplicate: 2 } : {};
      ops.push(t.fake.userHangsUp(call.externalCallId, twice).then(() => ({ op, status: 0, body: null })));
      continue;
    }
    // Every third one carries a key its twin in the storm shares: a retry racing its original.
    const key: Record<string, string> = i % 3 === 0 ? { 'idempotency-key': `${call.id}-${op}` } : {};
    const body = op === 'accept' || op === 'pre-accept' ? { sdp: CANNED_ANSWER_SDP } : null;
    ops.push(post(i, `/v1/calls/${call.id}/${op}`, body, key));
  }
  const outcomes = await Promise.all(ops);
  await t.fake.flush();
  for (const o of outcomes) {
    const what = `${o.op} → ${o.status} ${JSON.stringify(o.body)}`;
    if (o.op.endsWith('/terminate')) {
      assert.equal(o.status, 200, what);
    } else {
      // Meta refusing an accept or reject of a call the caller just left is its own 502 (providers-meta.md §5).
      assert.ok(o.status < 500 || (o.status === 502 && o.body.code === 'PROVIDER_ERROR'), what);
    }
  }
  let stored = await storedCall(t, t.numberA, call.id);
  if (stored && !isTerminal(stored.status)) {
    const end = await post(round, `/v1/calls/${call.id}/terminate`, null, {});
    assert.equal(end.status, 200, JSON.stringify(end.body));
    await t.fake.flush();
    stored = await storedCall(t, t.numberA, call.id);
  }
  assert.ok(stored && isTerminal(stored.status), stored?.status);
  assert.equal(stored.pendingAction, null);
  const events = await outbox(t, call);
  assert.equal(events.filter((e) => e.type === 'call.ended').length, 1, events.map((e) => e.type).join());
  assert.deepEqual(
    events.map((e) => e.sequence),
    events.map((_, i) => i + 1),
  );
  assert.equal(t.fake.callState(call.externalCallId), 'ENDED', `ours ${stored.status} by ${stored.endedBy}`);
  assert.deepEqual(t.fake.violations, []);
}

async function send(
  base: string,
  key: string,
  path: string,
  body: object | null,
  headers: Record<string, string>,
): Promise<Outcome> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'x-api-key': key, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { op: path, status: res.status, body: await res.json() };
}

for (const kind of storeKinds()) {
  describe(`every action on one call at once [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, { env: { PROVIDER_TIMEOUT_MS: '2000' } });
    });
    after(() => t.close());

    for (let round = 0; round < ROUNDS; round++) {
      test(`storm ${round}`, () =>
        storm(t, round, (_, path, body, headers) => send(t.baseUrl, t.numberA.key.key, path, body, headers)));
    }
  });
}

describe('every action on one call at once, over two processes sharing PostgreSQL', {
  skip: missing('postgres'),
}, () => {
  let t: TestApp;
  let servers: ServerProcess[] = [];
  before(async () => {
    t = await buildTestApp('postgres', { env: { PROVIDER_TIMEOUT_MS: '2000' } });
    const env = {
      ...t.store.env,
      META_GRAPH_BASE_URL: t.fake.baseUrl,
      WORKERS: 'off',
      PROVIDER_TIMEOUT_MS: '2000',
      RATE_LIMIT_PER_SECOND: '10000',
      RATE_LIMIT_BURST: '10000',
      TERMINATE_RATE_LIMIT_PER_SECOND: '10000',
      TERMINATE_RATE_LIMIT_BURST: '10000',
    };
    servers = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await t.close();
  });

  for (let round = 0; round < ROUNDS; round++) {
    test(`storm ${round}`, () =>
      storm(t, round, (i, path, body, headers) =>
        send((servers[i % 2] as ServerProcess).url, t.numberA.key.key, path, body, headers),
      ));
  }
});

const WEB_OPS = [
  'terminate',
  'accept',
  'reject',
  'hangup',
  'answer-on-phone',
  'terminate',
  'accept',
  'reject',
] as const;

// A web number's call: the same storm, the business's phone answering among it (Evolution's accepted elsewhere).
for (const kind of storeKinds()) {
  describe(`every action on one web call at once [${kind}]`, () => {
    let t: TestApp;
    let web: WebNumber;
    before(async () => {
      t = await buildTestApp(kind, { env: { PROVIDER_TIMEOUT_MS: '2000' } });
      web = await addWebNumber(t, 'on');
    });
    after(async () => {
      await web.fake.close();
      await t.close();
    });

    for (let round = 0; round < ROUNDS; round++) {
      test(`storm ${round}`, async () => {
        const call = await ringingWebCall(t, web);
        const twice = round % 2 === 1 ? { duplicate: 1 } : {};
        const ops: Promise<Outcome>[] = [];
        for (let i = 0; i < 8; i++) {
          const op = WEB_OPS[(round * 3 + i * 5) % WEB_OPS.length] as (typeof WEB_OPS)[number];
          if (op === 'hangup' || op === 'answer-on-phone') {
            // The fake refuses a phone answering a call no longer ringing: that ordering is simply not this storm's.
            const done =
              op === 'hangup'
                ? web.fake.peerHangsUp(call.externalCallId, twice)
                : web.fake.phoneAnswers(call.externalCallId, {}, twice).catch(() => undefined);
            ops.push(done.then(() => ({ op, status: 0, body: null })));
            continue;
          }
          const key: Record<string, string> = i % 3 === 0 ? { 'idempotency-key': `${call.id}-${op}` } : {};
          ops.push(send(t.baseUrl, web.key.key, `/v1/calls/${call.id}/${op}`, null, key));
        }
        const outcomes = await Promise.all(ops);
        await web.fake.flush();
        for (const o of outcomes) {
          const what = `${o.op} → ${o.status} ${JSON.stringify(o.body)}`;
          assert.ok(o.op.endsWith('/terminate') ? o.status === 200 : o.status < 500, what);
        }
        let stored = await webCall(t, web, call.id);
        if (stored && !isTerminal(stored.status)) {
          const end = await send(t.baseUrl, web.key.key, `/v1/calls/${call.id}/terminate`, null, {});
          assert.equal(end.status, 200, JSON.stringify(end.body));
          await web.fake.flush();
          stored = await webCall(t, web, call.id);
        }
        assert.ok(stored && isTerminal(stored.status), stored?.status);
        assert.equal(stored.pendingAction, null);
        const events = await outbox(t, call);
        const types = events.map((e) => e.type);
        assert.equal(types.filter((e) => e === 'call.ended').length, 1, types.join());
        // A call told connected ends answered: COMPLETED (or FAILED), never rejected or missed.
        if (types.includes('call.connected')) {
          assert.ok(['COMPLETED', 'FAILED'].includes(stored.status), `${stored.status} after ${types.join()}`);
        }
        assert.deepEqual(
          events.map((e) => e.sequence),
          events.map((_, i) => i + 1),
        );
        assert.equal(web.fake.call(call.externalCallId)?.phase, 'ended', `ours ${stored.status} by ${stored.endedBy}`);
      });
    }
  });
}
