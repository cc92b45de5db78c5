import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENGINE_FRAME } from './audio-queue.ts';
import { PlayQueue } from './play-queue.ts';

const file = (value: number, frames: number) => Promise.resolve(new Int16Array(ENGINE_FRAME * frames).fill(value));

test('a key drops what was queued with stopOnKey, playing or waiting, and the rest plays on in order', async () => {
  const queue = new PlayQueue();
  queue.enqueue(file(1, 3), true); // the menu, playing when the key comes
  queue.enqueue(file(2, 2)); // hold music: not stopped by a key
  queue.enqueue(file(3, 2), true); // the menu's second part, still waiting
  await Promise.resolve();
  assert.equal(queue.pull()?.[0], 1);
  queue.keyPressed();
  assert.equal(queue.length, 1);
  assert.deepEqual([queue.pull()?.[0], queue.pull()?.[0], queue.pull()], [2, 2, null]);
});

test('a key with nothing stopOnKey queued changes nothing', async () => {
  const queue = new PlayQueue();
  queue.enqueue(file(7, 1));
  await Promise.resolve();
  queue.keyPressed();
  assert.equal(queue.pull()?.[0], 7);
});
