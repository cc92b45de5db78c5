// The simulator's own bookkeeping, without the API around it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { systemClock } from '../../clock.ts';
import type { NumberId } from '../../ids.ts';
import { createLogger } from '../../logger.ts';
import { createPeerFactory, LOOPBACK_ICE } from '../../media/rtc/peer-factory.ts';
import type { NumberRecord } from '../../model/number.ts';
import { MAX_LIVE_CALLS_PER_NUMBER, SandboxSimulator } from './simulator.ts';

test('a simulated call whose offer could not be stored does not count against the number’s ten live calls', async () => {
  let storeUp = false;
  const simulator = new SandboxSimulator({
    peers: createPeerFactory(LOOPBACK_ICE),
    clock: systemClock,
    logger: createLogger('silent'),
    applyEvent: async () => {
      if (!storeUp) {
        throw new Error('store unavailable');
      }
    },
    recordPermissionReply: async () => undefined,
    loadNumber: async () => null,
    mergeNumberConfig: async () => undefined,
  });
  const number = { id: 'num_SANDBOXTEST' as NumberId, provider: 'SANDBOX', publicConfig: {} } as NumberRecord;
  const call = () =>
    simulator.startInbound(number, { from: '+15550100', audio: 'silence', hangupAfterSeconds: null, answer: null });
  try {
    for (let i = 0; i <= MAX_LIVE_CALLS_PER_NUMBER; i++) {
      await assert.rejects(call(), /store unavailable/);
    }
    storeUp = true;
    const placed = await call();
    assert.equal(placed.ok, true, JSON.stringify(placed));
  } finally {
    await simulator.close();
  }
});

test('a simulated user whose number is deleted hangs up: its media stops, nobody is told', async () => {
  let exists = true;
  const events: string[] = [];
  const number = { id: 'num_SANDBOXGONE' as NumberId, provider: 'SANDBOX', publicConfig: {} } as NumberRecord;
  const simulator = new SandboxSimulator({
    peers: createPeerFactory(LOOPBACK_ICE),
    clock: systemClock,
    logger: createLogger('silent'),
    applyEvent: async (_number, event) => {
      events.push(event.type);
    },
    recordPermissionReply: async () => undefined,
    loadNumber: async () => (exists ? number : null),
    mergeNumberConfig: async () => undefined,
    timing: { orphanCheckMs: 50 },
  });
  try {
    const placed = await simulator.startInbound(number, {
      from: '+15550101',
      audio: 'tone:440',
      hangupAfterSeconds: null,
      answer: null,
    });
    assert.ok(placed.ok, JSON.stringify(placed));
    const id = placed.value.externalCallId;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(simulator.inspect(number.id, id)?.ended, false, 'still ringing while the number exists');
    exists = false;
    // The orphan check runs every 50 ms; wait for its hang-up rather than guessing how long it takes.
    const view = await waitFor(
      () => simulator.inspect(number.id, id),
      (v) => v?.ended === true && v.media === 'closed',
    );
    assert.equal(view?.ended, true);
    assert.equal(view?.media, 'closed');
    assert.deepEqual(events, ['offer'], 'no end event for a number that is gone');
  } finally {
    await simulator.close();
  }
});

test('a user’s end the store refused is told again until it is taken; then its record is released', async () => {
  let refusals = 2;
  const ends: string[] = [];
  const released: string[] = [];
  const number = { id: 'num_SANDBOXRETRY' as NumberId, provider: 'SANDBOX', publicConfig: {} } as NumberRecord;
  const simulator = new SandboxSimulator({
    peers: createPeerFactory(LOOPBACK_ICE),
    clock: systemClock,
    logger: createLogger('silent'),
    applyEvent: async (_number, event) => {
      if (event.type !== 'end') {
        return;
      }
      if (refusals-- > 0) {
        throw new Error('store unavailable');
      }
      ends.push(event.externalCallId);
    },
    recordPermissionReply: async () => undefined,
    loadNumber: async () => number,
    mergeNumberConfig: async () => undefined,
    users: { hold: async () => undefined, release: async (_n, id) => void released.push(id) },
    // The caller gives up at once; its end is refused twice, then taken.
    timing: { ringGiveUpSeconds: 0.05, endRetryMs: 20 },
  });
  try {
    const placed = await simulator.startInbound(number, {
      from: '+15550102',
      audio: 'silence',
      hangupAfterSeconds: null,
      answer: null,
    });
    assert.ok(placed.ok, JSON.stringify(placed));
    const id = placed.value.externalCallId;
    await waitFor(
      () => ends,
      (e) => e.length > 0,
    );
    assert.deepEqual(ends, [id], 'told once it was taken, and only once');
    assert.equal(refusals, -1, 'after both refusals');
    await waitFor(
      () => released,
      (r) => r.length > 0,
    );
    assert.deepEqual(released, [id]);
  } finally {
    await simulator.close();
  }
});

test('a user’s end is told again while the store is down altogether (its number cannot be read either)', async () => {
  let storeDownFor = 2;
  const ends: string[] = [];
  const number = { id: 'num_SANDBOXDOWN' as NumberId, provider: 'SANDBOX', publicConfig: {} } as NumberRecord;
  let placedId: string | null = null;
  const simulator = new SandboxSimulator({
    peers: createPeerFactory(LOOPBACK_ICE),
    clock: systemClock,
    logger: createLogger('silent'),
    applyEvent: async (_number, event) => {
      if (event.type === 'end') {
        ends.push(event.externalCallId);
      }
    },
    recordPermissionReply: async () => undefined,
    // Once the call rings, the store goes away: reading the number fails as the end would.
    loadNumber: async () => {
      if (placedId !== null && storeDownFor-- > 0) {
        throw new Error('store unavailable');
      }
      return number;
    },
    mergeNumberConfig: async () => undefined,
    users: { hold: async () => undefined, release: async () => undefined },
    timing: { ringGiveUpSeconds: 0.05, endRetryMs: 20 },
  });
  try {
    const placed = await simulator.startInbound(number, {
      from: '+15550103',
      audio: 'silence',
      hangupAfterSeconds: null,
      answer: null,
    });
    assert.ok(placed.ok, JSON.stringify(placed));
    placedId = placed.value.externalCallId;
    await waitFor(
      () => ends,
      (e) => e.length > 0,
    );
    assert.deepEqual(ends, [placedId]);
    assert.equal(storeDownFor, -1, 'after both failed reads');
  } finally {
    await simulator.close();
  }
});
