import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterRotation, liveSecrets, MAX_PREVIOUS_SECRETS, parsePreviousSecrets } from './previous-secrets.ts';

const at = (ms: number) => new Date(ms).toISOString();

test('a row rotated before the list existed holds one bare secret, ending at the row’s time', () => {
  assert.deepEqual(parsePreviousSecrets('whsec_old', at(5000)), [{ secret: 'whsec_old', expiresAt: at(5000) }]);
  assert.deepEqual(parsePreviousSecrets(null, null), []);
  assert.deepEqual(parsePreviousSecrets('whsec_old', null), []);
});

test('two rotations within the overlap: both replaced secrets sign until their own end', () => {
  const first = afterRotation([], 'whsec_a', at(10_000), 0);
  const second = afterRotation(parsePreviousSecrets(JSON.stringify(first.list), null), 'whsec_b', at(15_000), 5_000);
  assert.equal(second.latestExpiresAt, at(15_000));
  const stored = parsePreviousSecrets(JSON.stringify(second.list), second.latestExpiresAt);
  assert.deepEqual(liveSecrets(stored, 9_999), ['whsec_a', 'whsec_b']);
  assert.deepEqual(liveSecrets(stored, 10_000), ['whsec_b'], 'the first ends 24 h after its own rotation');
  assert.deepEqual(liveSecrets(stored, 15_000), []);
});

test('a rotation drops secrets already over, and keeps at most the last ten', () => {
  const over = afterRotation([{ secret: 'whsec_gone', expiresAt: at(1_000) }], 'whsec_x', at(9_000), 2_000);
  assert.deepEqual(
    over.list.map((p) => p.secret),
    ['whsec_x'],
  );
  let list = over.list;
  for (let i = 0; i < 15; i++) {
    list = afterRotation(list, `whsec_${i}`, at(9_000 + i), 2_000).list;
  }
  assert.equal(list.length, MAX_PREVIOUS_SECRETS);
  assert.equal(list.at(-1)?.secret, 'whsec_14');
  assert.equal(list[0]?.secret, 'whsec_5');
});

test('a list that is not one of secrets yields none', () => {
  assert.deepEqual(parsePreviousSecrets('[1, {"secret": 2}]', at(5000)), []);
});

test('a list that is not JSON throws an error that quotes none of it (it would end up in a log line)', () => {
  for (const text of ['[whsec_c2VjcmV0]', '[{"secret":"whsec_c2VjcmV0"']) {
    assert.throws(
      () => parsePreviousSecrets(text, at(5000)),
      (err: Error) => !err.message.includes('whsec_') && !err.message.includes('c2VjcmV0'),
    );
  }
});

test('entries that cannot sign are left out: no secret body, or no time', () => {
  const list = [
    { secret: 'whsec_', expiresAt: at(9000) },
    { secret: '', expiresAt: at(9000) },
    { secret: 'whsec_c2VjcmV0', expiresAt: 'soon' },
    { secret: 'whsec_c2VjcmV0', expiresAt: at(9000) },
  ];
  assert.deepEqual(parsePreviousSecrets(JSON.stringify(list), at(9000)), [list[3]]);
});

test('the row’s end is the latest of the list’s, even when the replaced secret ends before an earlier one', () => {
  // A clock stepped back, or two rotations whose times were read before the row lock in the other order.
  const after = afterRotation([{ secret: 'whsec_a', expiresAt: at(20_000) }], 'whsec_b', at(15_000), 5_000);
  assert.equal(after.latestExpiresAt, at(20_000));
});
