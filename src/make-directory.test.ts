// mkdir -p that ends: parents made owner-only, an existing directory kept, and a path that cannot be made (procfs
// answers ENOENT under /proc, where Node's recursive mkdir loops for ever) an error with its code.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { makeDirectory } from './make-directory.ts';

describe('makeDirectory', () => {
  const root = mkdtempSync(join(tmpdir(), 'callgate-mkdir-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('makes the missing parents with the mode; an existing directory is left as it is', () => {
    const dir = join(root, 'a', 'b', 'c');
    makeDirectory(dir, 0o700);
    for (const each of [join(root, 'a'), join(root, 'a', 'b'), dir]) {
      assert.ok(statSync(each).isDirectory());
      assert.equal(statSync(each).mode & 0o777, 0o700, each);
    }
    makeDirectory(dir, 0o700);
    makeDirectory(`${dir}/`, 0o700);
  });

  test('a file in the way is ENOTDIR; under /proc is ENOENT, at once', () => {
    const file = join(root, 'file');
    writeFileSync(file, '');
    assert.throws(() => makeDirectory(join(file, 'x'), 0o700), { code: 'ENOTDIR' });
    assert.throws(() => makeDirectory(file, 0o700), { code: 'ENOTDIR' });
    assert.throws(() => makeDirectory('/proc/callgate-mkdir/data', 0o700), { code: 'ENOENT' });
  });
});
