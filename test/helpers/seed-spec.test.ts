// The repository's copy of the seed definition must stay byte-identical to the original: it is binding.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { seedSpecPath } from './seed-spec.ts';

// sha256 of the original terminate-call.openapi.yaml, as received.
const ORIGINAL_SHA256 = 'e85a3dc51c938b34b5e50f8168231fe9f8fa9344801041008d9eaef460081979';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('the seed definition in docs/spec is byte-identical to the original', () => {
  assert.equal(sha256(seedSpecPath), ORIGINAL_SHA256);
});

test('the seed definition matches the contract folder beside the repository when one exists', (t) => {
  // In development the contract pages sit in a folder next to the clone; a fresh clone has none.
  const original = join(import.meta.dirname, '..', '..', '..', 'shared', 'spec', 'terminate-call.openapi.yaml');
  if (!existsSync(original)) {
    t.diagnostic('no contract folder beside the repository: compared with the pinned sha256 only');
    return;
  }
  assert.equal(sha256(seedSpecPath), sha256(original));
});
