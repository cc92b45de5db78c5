import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KEY_BURST, KEYS_PER_SECOND, KeyBudget } from './keypad.ts';

test('a call queues a burst of key events, then as many a second as a person could press', () => {
  let now = 1_000_000;
  const budget = new KeyBudget(() => now);
  const taken = Array.from({ length: KEY_BURST + 5 }, () => budget.take());
  assert.equal(taken.filter(Boolean).length, KEY_BURST, 'the burst, then nothing');
  now += 1000 / KEYS_PER_SECOND;
  assert.equal(budget.take(), true, 'one more after a tenth of a second');
  assert.equal(budget.take(), false);
  now += 60_000; // a quiet minute refills to the burst, not beyond
  assert.equal(Array.from({ length: KEY_BURST + 5 }, () => budget.take()).filter(Boolean).length, KEY_BURST);
});
