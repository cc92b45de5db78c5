import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../logger.ts';
import { MediaCommands } from './media-commands.ts';

test('a command the channel could not send leaves no reply waiting and no timer behind', async () => {
  const commands = new MediaCommands('here', async () => ({ ok: true }), createLogger('silent'));
  commands.attach({
    notify: async () => {
      throw new Error('connection terminated');
    },
    close: async () => undefined,
  });
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  await assert.rejects(commands.send('there', { kind: 'stop-play', callId: 'call_1' }), /connection terminated/);
  // A 20 s timer left behind would hold a shutting-down process open for as long.
  assert.equal(timers(), before);
});

test('a watch that finds the owner gone answers in its place, before sending or while waiting, and leaves no timer', async () => {
  const sent: unknown[] = [];
  const commands = new MediaCommands('here', async () => ({ ok: true }), createLogger('silent'));
  commands.attach({ notify: async (m) => void sent.push(m), close: async () => undefined });
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const gone = { ok: false, code: 'CALL_STATE_CONFLICT', reason: 'gone' } as const;

  // Gone already: nothing is sent.
  assert.deepEqual(
    await commands.send('there', { kind: 'stop-play', callId: 'call_1' }, { watch: async () => gone }),
    gone,
  );
  assert.equal(sent.length, 0);

  // Gone while waiting: the third look answers, long before the timeout; a failed look is no verdict.
  let looks = 0;
  const watch = async () => {
    looks += 1;
    if (looks === 2) {
      throw new Error('store unreachable');
    }
    return looks >= 3 ? gone : null;
  };
  const started = performance.now();
  const reply = await commands.send(
    'there',
    { kind: 'stop-play', callId: 'call_1' },
    { watch, watchEveryMs: 20, timeoutMs: 10_000 },
  );
  assert.deepEqual(reply, gone);
  assert.equal(sent.length, 1);
  assert.ok(performance.now() - started < 1000);
  assert.equal(timers(), before);
});

test('a first look the store never answers does not hold the command past its timeout', { timeout: 5000 }, async () => {
  const commands = new MediaCommands('here', async () => ({ ok: true }), createLogger('silent'));
  commands.attach({ notify: async () => undefined, close: async () => undefined });
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const started = performance.now();
  const reply = await commands.send(
    'there',
    { kind: 'stop-play', callId: 'call_1' },
    { watch: () => new Promise<never>(() => undefined), watchEveryMs: 20, timeoutMs: 200 },
  );
  assert.equal(reply.ok, false);
  assert.equal(!reply.ok && reply.code, 'SERVICE_UNAVAILABLE');
  assert.ok(performance.now() - started < 1000, `answered in ${Math.round(performance.now() - started)} ms`);
  assert.equal(timers(), before);
});

test('a command whose wait ran out during the first look is not sent: the caller already has its 503', {
  timeout: 5000,
}, async () => {
  const { reply, sent } = await playWithStalledLook(100);
  assert.equal(!reply.ok && reply.code, 'SERVICE_UNAVAILABLE');
  // A play sent now would be heard although the client was told it failed, and again when it retries.
  assert.deepEqual(sent, []);
});

test('the first look running out is the verdict, whatever the clock reads then: nothing is sent', {
  timeout: 5000,
}, async (t) => {
  // A timer may fire a fraction of a millisecond before performance.now() says its time is up; here the clock
  // does not move at all.
  const frozen = performance.now();
  t.mock.method(performance, 'now', () => frozen);
  const { reply, sent } = await playWithStalledLook(50);
  assert.equal(!reply.ok && reply.code, 'SERVICE_UNAVAILABLE');
  assert.deepEqual(sent, []);
});

/** A play sent to another process whose first look at the owner never answers, within `timeoutMs`. */
async function playWithStalledLook(timeoutMs: number) {
  const sent: unknown[] = [];
  const commands = new MediaCommands('here', async () => ({ ok: true }), createLogger('silent'));
  commands.attach({ notify: async (m) => void sent.push(m), close: async () => undefined });
  const reply = await commands.send(
    'there',
    { kind: 'play', callId: 'call_1', mediaUrl: 'https://example.com/a.wav' },
    { watch: () => new Promise<never>(() => undefined), timeoutMs },
  );
  return { reply, sent };
}
