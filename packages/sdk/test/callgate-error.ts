// What a client call that must fail threw: a CallgateError, like every failure of the client.
import assert from 'node:assert/strict';
import { CallgateError } from '../src/index.ts';

export async function callgateError(promise: Promise<unknown>): Promise<CallgateError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof CallgateError, `expected a CallgateError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}
