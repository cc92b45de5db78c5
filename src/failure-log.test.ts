import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { FAILURE_REMINDER_MS, FailureLog } from './failure-log.ts';

function recorded() {
  const lines: { level: number; msg: string; err?: unknown }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { lines, logger };
}

test('a bug that shows during an outage is said in full, not folded into the outage reminders', () => {
  const { lines, logger } = recorded();
  let now = 0;
  const log = new FailureLog(logger, { failed: 'sweep failed', recovered: 'sweep works again' }, () => now);
  log.failed(new Error('store unavailable'), 'warn');
  now += 1000;
  log.failed(new Error('store unavailable'), 'warn');
  assert.equal(lines.length, 1, 'an outage is said once');
  now += 1000;
  log.failed(new TypeError('cannot read properties of undefined'), 'error');
  assert.equal(lines.length, 2);
  assert.equal(lines[1]?.level, 50, 'at error, as a bug');
  assert.match(JSON.stringify(lines[1]?.err), /TypeError.*stack/s, 'with its stack');
  now += 1000;
  log.failed(new TypeError('cannot read properties of undefined'), 'error');
  assert.equal(lines.length, 2, 'and not again each round');
  now += FAILURE_REMINDER_MS;
  log.failed(new Error('store unavailable'), 'warn');
  assert.equal(lines.length, 3, 'a reminder a minute');
  log.ok();
  assert.equal(lines.at(-1)?.msg, 'sweep works again');
  log.failed(new Error('store unavailable'), 'warn');
  assert.equal(lines.length, 5, 'a new outage is said again in full');
});
