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
