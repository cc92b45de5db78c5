// Graph error classification and 138012's next-allowed time (docs/spec/providers-meta.md §2.2, §2.3).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { retryAfterFromDetails } from './errors.ts';

describe('retryAfterFromDetails (138012)', () => {
  const now = Date.parse('2026-01-08T10:00:00Z');

  test('epoch seconds', () => {
    assert.equal(retryAfterFromDetails('Next call allowed at 1767870000', now), 3600);
  });

  test('an ISO time is read in its own zone, UTC when it names none', () => {
    assert.equal(retryAfterFromDetails('Next call allowed at 2026-01-08T11:00:00Z', now), 3600);
    assert.equal(retryAfterFromDetails('Next call allowed at 2026-01-08T13:00:00+02:00', now), 3600);
    assert.equal(retryAfterFromDetails('Next call allowed at 2026-01-08T11:00:00.000-0000', now), 3600);
    assert.equal(retryAfterFromDetails('Next call allowed at 2026-01-08T11:00:00', now), 3600);
  });

  test('an ISO date alone is its midnight UTC', () => {
    assert.equal(retryAfterFromDetails('Next call allowed on 2026-01-09', now), 14 * 3600);
  });

  test('nothing readable: absent', () => {
    assert.equal(retryAfterFromDetails('try again later', now), undefined);
    assert.equal(retryAfterFromDetails(undefined, now), undefined);
  });
});
