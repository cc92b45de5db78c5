import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AudioQueue, ENGINE_FRAME } from './audio-queue.ts';

test('audio comes out in 20 ms frames, the last one padded with silence, then nothing', () => {
  const q = new AudioQueue();
  q.push(new Int16Array(ENGINE_FRAME + 10).fill(7));
  assert.deepEqual([...(q.pull() ?? [])].slice(0, 3), [7, 7, 7]);
  const last = q.pull();
  assert.ok(last);
  assert.equal(last.length, ENGINE_FRAME);
  assert.equal(last[9], 7);
  assert.equal(last[10], 0);
  assert.equal(q.pull(), null);
});

test('a mark is reached with the frame that plays the audio before it, not earlier', () => {
  const q = new AudioQueue();
  const reached: string[] = [];
  q.push(new Int16Array(ENGINE_FRAME * 2).fill(1));
  q.mark(() => reached.push('m'));
  q.pull();
  assert.deepEqual(reached, []);
  q.pull();
  assert.deepEqual(reached, ['m']);
});

test('clear drops the audio and reaches every pending mark in order', () => {
  const q = new AudioQueue();
  const reached: string[] = [];
  q.push(new Int16Array(ENGINE_FRAME * 5));
  q.mark(() => reached.push('a'));
  q.push(new Int16Array(ENGINE_FRAME));
  q.mark(() => reached.push('b'));
  q.clear();
  assert.deepEqual(reached, ['a', 'b']);
  assert.equal(q.queuedSamples, 0);
  assert.equal(q.pull(), null);
});

test('a client sending far faster than real time cannot queue more than the cap', () => {
  const q = new AudioQueue(1);
  q.push(new Int16Array(48_000 * 3));
  assert.equal(q.queuedSamples, 48_000);
  assert.equal(q.dropped, 96_000);
});
