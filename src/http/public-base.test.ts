import assert from 'node:assert/strict';
import { test } from 'node:test';
import { publicBase } from './public-base.ts';

test('a wildcard bind is shown as localhost, an IPv6 literal in brackets, a name as given', () => {
  assert.equal(publicBase('0.0.0.0', 9464), 'http://localhost:9464');
  assert.equal(publicBase('::', 9464), 'http://localhost:9464');
  assert.equal(publicBase('::1', 8080), 'http://[::1]:8080');
  assert.equal(publicBase('127.0.0.1', 8080), 'http://127.0.0.1:8080');
  assert.equal(publicBase('api.internal', 8080), 'http://api.internal:8080');
});
