// kill -9 of an API process between Meta's answer to an action and the store write: the dead process's action stays
// in the call's slot, and a hang-up on another process takes it over once its lease is over; a call Meta placed for
// a start that was never stored is ended at Meta by another process's sweep.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { CANNED_ANSWER_SDP, CANNED_OFFER_SDP } from '../fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../helpers/build-test-app.ts';
import { acceptedCall, nextPeer, outbox, ringingCall, storedCall } from '../helpers/calls.ts';
import { missing } from '../helpers/requirements.ts';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.ts';

describe('an action whose process died before storing Meta’s answer (PostgreSQL)', {
  skip: missing('postgres'),
}, () => {
  let t: TestApp;
  let server: ServerProcess;
  before(async () => {
    // Both processes with one provider deadline, hence one action lease (13 s).
    t = await buildTestApp('postgres', { env: { PROVIDER_TIMEOUT_MS: '1000' } });
  });
  // Each test kills its own.
  beforeEach(async () => {
    server = await startServerProcess({
      ...t.store.env,
      META_GRAPH_BASE_URL: t.fake.baseUrl,
      WORKERS: 'off',
      PROVIDER_TIMEOUT_MS: '1000',
    });
  });
  after(async () => {
    await server.stop('SIGKILL');
    await t.close();
  });

  // Meta holds the call connected, ours still rings: the hang-up must end the call at Meta too, not read Meta's refusal
  // of a reject as "the caller already hung up".
  test('an accept: a terminate on a surviving process, once its lease is over, hangs the call up at Meta', async () => {
    const call = await ringingCall(t);
    t.fake.inject({ action: 'accept', times: 1, latencyMs: 500 });
    const accepting = fetch(`${server.url}/v1/calls/${call.id}/accept`, {
      method: 'POST',
      headers: { 'x-api-key': t.numberA.key.key, 'content-type': 'application/json' },
      body: JSON.stringify({ sdp: CANNED_ANSWER_SDP }),
    }).catch(() => null);
    await eventually(async () => t.fake.countRequests({ action: 'accept', call_id: call.externalCallId }) === 1);
    server.child.kill('SIGKILL');
    assert.equal(await accepting, null, 'the accept was never answered');
    await eventually(async () => t.fake.callState(call.externalCallId) === 'ACTIVE', 5000, 'Meta to connect it');
    assert.equal((await storedCall(t, t.numberA, call.id))?.pendingAction?.kind, 'accept');

    // Waits out the dead process's lease (3 × PROVIDER_TIMEOUT_MS + 10 s), then acts itself.
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/calls/${call.id}/terminate`,
      headers: { 'x-api-key': t.numberA.key.key },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
    assert.equal(t.fake.callState(call.externalCallId), 'ENDED', 'Meta ended the call too');
    const ended = await storedCall(t, t.numberA, call.id);
    assert.deepEqual([ended?.status, ended?.endedBy], ['COMPLETED', 'BUSINESS']);
    await t.fake.flush();
    assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
  });

  // Meta's end webhook comes late (after the lease): a retried hang-up hears "already ended", and it was ours.
  test('a terminate: the retry on a surviving process hears "already ended" and records the BUSINESS’s end', async () => {
    const call = await acceptedCall(t);
    t.fake.inject({ action: 'terminate', times: 1, latencyMs: 500 });
    t.fake.setEmitDefaults({ hold: true });
    const terminating = fetch(`${server.url}/v1/calls/${call.id}/terminate`, {
      method: 'POST',
      headers: { 'x-api-key': t.numberA.key.key },
    }).catch(() => null);
    await eventually(async () => t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }) === 1);
    server.child.kill('SIGKILL');
    assert.equal(await terminating, null, 'the terminate was never answered');
    await eventually(async () => t.fake.callState(call.externalCallId) === 'ENDED', 5000, 'Meta to end it');
    t.fake.setEmitDefaults({});

    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/calls/${call.id}/terminate`,
      headers: { 'x-api-key': t.numberA.key.key },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { success: true, id: call.id, status: 'COMPLETED' });
    const ended = await storedCall(t, t.numberA, call.id);
    assert.deepEqual([ended?.status, ended?.endedBy], ['COMPLETED', 'BUSINESS']);
    await t.fake.releaseHeld();
    await t.fake.flush();
    assert.equal((await storedCall(t, t.numberA, call.id))?.endedBy, 'BUSINESS');
    assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
  });

  // The caller's phone stopped ringing at our reject: a retried reject hearing "already ended" is that reject's end.
  test('a reject: the retry on a surviving process hears "already ended": 200, REJECTED by the BUSINESS', async () => {
    const call = await ringingCall(t);
    t.fake.inject({ action: 'reject', times: 1, latencyMs: 500 });
    t.fake.setEmitDefaults({ hold: true });
    const rejecting = fetch(`${server.url}/v1/calls/${call.id}/reject`, {
      method: 'POST',
      headers: { 'x-api-key': t.numberA.key.key },
    }).catch(() => null);
    await eventually(async () => t.fake.countRequests({ action: 'reject', call_id: call.externalCallId }) === 1);
    server.child.kill('SIGKILL');
    assert.equal(await rejecting, null, 'the reject was never answered');
    await eventually(async () => t.fake.callState(call.externalCallId) === 'ENDED', 5000, 'Meta to end it');
    t.fake.setEmitDefaults({});

    // Refused (409) while the dead process's lease runs, then carried out.
    const res = await eventually(
      async () => {
        const r = await t.app.inject({
          method: 'POST',
          url: `/v1/calls/${call.id}/reject`,
          headers: { 'x-api-key': t.numberA.key.key },
        });
        return r.statusCode === 409 && r.json().details.status === 'RINGING' ? null : r;
      },
      20_000,
      'the dead reject’s lease to be over',
    );
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { success: true, id: call.id, status: 'REJECTED' });
    const ended = await storedCall(t, t.numberA, call.id);
    assert.deepEqual([ended?.status, ended?.endedBy], ['REJECTED', 'BUSINESS']);
    await t.fake.releaseHeld();
    await t.fake.flush();
    assert.equal((await outbox(t, call)).filter((e) => e.type === 'call.ended').length, 1);
  });
  // The call rings at Meta and nobody here knows it: a surviving process's sweep ends it once no request could
  // still be storing it (PROVIDER_TIMEOUT_MS + 10 s after its events arrived).
  test('a POST /v1/calls: the call Meta placed is ended at Meta by the sweep on a surviving process', async () => {
    const peer = nextPeer();
    t.fake.grantPermission(t.numberA.phoneNumberId, peer, 'temporary');
    t.fake.inject({ action: 'connect', times: 1, latencyMs: 500 });
    const starting = fetch(`${server.url}/v1/calls`, {
      method: 'POST',
      headers: { 'x-api-key': t.numberA.key.key, 'content-type': 'application/json' },
      body: JSON.stringify({ to: `+${peer}`, sdp: CANNED_OFFER_SDP }),
    }).catch(() => null);
    await eventually(async () => t.fake.requests.some((r) => r.body?.action === 'connect' && r.body?.to === peer));
    server.child.kill('SIGKILL');
    assert.equal(await starting, null, 'the start was never answered');
    await eventually(async () => t.fake.requests.some((r) => r.body?.to === peer && r.response?.calls));
    const placed = t.fake.requests.find((r) => r.body?.action === 'connect' && r.body?.to === peer);
    const wacid = String(placed?.response?.calls?.[0]?.id);
    assert.equal(t.fake.callState(wacid), 'CALLING', 'the user’s phone rings');

    await eventually(
      async () => {
        await t.sweeper.sweepOnce();
        return t.fake.callState(wacid) === 'ENDED';
      },
      20_000,
      'the sweep to end the call at Meta',
    );
    assert.equal(t.fake.countRequests({ action: 'terminate', call_id: wacid }), 1);
    const calls = await t.store.db.query('SELECT id FROM calls WHERE external_call_id = $1', [wacid]);
    assert.equal(calls.length, 0, 'no call was made up for it');
  });
});
