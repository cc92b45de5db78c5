// Graph error classification and 138012's next-allowed time (docs/spec/providers-meta.md §2.2, §2.3).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyGraphError, retryAfterFromDetails } from './errors.ts';

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

describe('classifyGraphError: the code first, the HTTP status only for codes the table does not know', () => {
  test('100 is INVALID_REQUEST whatever the status; on terminate/reject it means the call is gone', () => {
    for (const status of [400, 401, 403, 404, 429]) {
      assert.equal(classifyGraphError(100, status, false), 'INVALID_REQUEST', String(status));
      assert.equal(classifyGraphError(100, status, true), 'ALREADY_ENDED', String(status));
    }
  });

  test('documented codes keep their category under a misleading status', () => {
    assert.equal(classifyGraphError(138006, 401, false), 'PERMISSION_REQUIRED');
    assert.equal(classifyGraphError(138000, 401, false), 'CONFIG');
    assert.equal(classifyGraphError(138012, 400, false), 'RATE_LIMITED');
    assert.equal(classifyGraphError(190, 400, false), 'AUTH');
  });

  test('unknown codes fall back on the status', () => {
    assert.equal(classifyGraphError(999_999, 401, false), 'AUTH');
    assert.equal(classifyGraphError(999_999, 429, false), 'RATE_LIMITED');
    assert.equal(classifyGraphError(null, 404, false), 'INVALID_REQUEST');
  });
});
