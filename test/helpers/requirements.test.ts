// What CALLGATE_TEST_REQUIRE demands: `all` is chromium, postgres and redis; tmpfs only when named.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { required } from './requirements.ts';

describe('CALLGATE_TEST_REQUIRE', () => {
  const saved = process.env.CALLGATE_TEST_REQUIRE;
  afterEach(() => {
    if (saved === undefined) {
      delete process.env.CALLGATE_TEST_REQUIRE;
    } else {
      process.env.CALLGATE_TEST_REQUIRE = saved;
    }
  });

  test('all demands chromium, postgres and redis, not tmpfs', () => {
    process.env.CALLGATE_TEST_REQUIRE = 'all';
    assert.deepEqual([...required()].sort(), ['chromium', 'postgres', 'redis']);
  });

  test('tmpfs is demanded when named, alone or with all', () => {
    process.env.CALLGATE_TEST_REQUIRE = 'all,tmpfs';
    assert.deepEqual([...required()].sort(), ['chromium', 'postgres', 'redis', 'tmpfs']);
    process.env.CALLGATE_TEST_REQUIRE = ' tmpfs ';
    assert.deepEqual([...required()], ['tmpfs']);
  });
});
