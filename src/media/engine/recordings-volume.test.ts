// The RECORDINGS_DIR id file, on a filesystem that has no hard links (FAT/exFAT, some network and object-store
// mounts): linkSync fails there with EPERM or ENOTSUP, which no other process's id explains.
import assert from 'node:assert/strict';
import fs, { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { recordingsVolume } from './recordings-volume.ts';

test('a directory whose filesystem has no hard links still gets its id, and keeps it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'callgate-nolinks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  t.mock.method(fs, 'linkSync', () => {
    throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
  });
  syncBuiltinESMExports();
  t.after(() => {
    t.mock.restoreAll();
    syncBuiltinESMExports();
  });
  const id = recordingsVolume(dir, true);
  assert.match(id ?? '', /^vol_[0-9a-f]{24}$/);
  assert.deepEqual(readdirSync(dir), ['.callgate-volume'], 'no draft left beside it');
});
