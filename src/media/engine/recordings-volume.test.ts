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

test('an id file a full disk left empty is given an id once it is no write under way; and the same one whoever repairs it', (t) => {
  const made = (name: string, ageMs: number) => {
    const dir = mkdtempSync(join(tmpdir(), `callgate-empty-${name}-`));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, '.callgate-volume');
    fs.writeFileSync(file, '');
    const at = new Date(Date.now() - ageMs);
    fs.utimesSync(file, at, at);
    return { dir, file };
  };
  const old = made('old', 120_000);
  const id = recordingsVolume(old.dir, true);
  assert.match(id ?? '', /^vol_[0-9a-f]{24}$/);
  assert.equal(fs.readFileSync(old.file, 'utf8').trim(), id);
  assert.deepEqual(readdirSync(old.dir).sort(), ['.callgate-volume', '.callgate-volume.repaired'], 'no draft left');

  // Written a moment ago: another process's write may still be under way.
  const fresh = made('fresh', 0);
  assert.equal(recordingsVolume(fresh.dir, true), null);
  assert.equal(fs.readFileSync(fresh.file, 'utf8'), '');

  // A process killed mid-repair, or one repairing at the same time, settled its id first: that id is the one
  // written, so no two processes keep different ids; a lock directory an older build left stops nothing.
  const settled = made('settled', 120_000);
  fs.writeFileSync(`${settled.file}.repaired`, 'vol_000000000000000000000042\n');
  fs.mkdirSync(`${settled.file}.repair`);
  assert.equal(recordingsVolume(settled.dir, true), 'vol_000000000000000000000042');
  assert.equal(fs.readFileSync(settled.file, 'utf8').trim(), 'vol_000000000000000000000042');
  // Reading only (a GET on a process that records nothing) never writes.
  const readOnly = made('read', 120_000);
  assert.equal(recordingsVolume(readOnly.dir, false), null);
  assert.equal(fs.readFileSync(readOnly.file, 'utf8'), '');
});

test('without hard links, a settling file a full disk left empty too is passed over, not a repair stopped for good', (t) => {
  t.mock.method(fs, 'linkSync', () => {
    throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
  });
  syncBuiltinESMExports();
  t.after(() => {
    t.mock.restoreAll();
    syncBuiltinESMExports();
  });
  /** The id file and its settling file, both left empty by a full disk `ageMs` ago. */
  const bothEmpty = (name: string, ageMs: number) => {
    const dir = mkdtempSync(join(tmpdir(), `callgate-nolinks-${name}-`));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, '.callgate-volume');
    const at = new Date(Date.now() - ageMs);
    for (const each of [file, `${file}.repaired`]) {
      fs.writeFileSync(each, '');
      fs.utimesSync(each, at, at);
    }
    return { dir, file };
  };
  const old = bothEmpty('old', 120_000);
  const id = recordingsVolume(old.dir, true);
  assert.match(id ?? '', /^vol_[0-9a-f]{24}$/);
  assert.equal(fs.readFileSync(old.file, 'utf8').trim(), id);
  assert.equal(fs.readFileSync(`${old.file}.repaired.1`, 'utf8').trim(), id, 'settled in the next name');
  assert.deepEqual(
    readdirSync(old.dir).sort(),
    ['.callgate-volume', '.callgate-volume.repaired', '.callgate-volume.repaired.1'],
    'no draft left',
  );
  // Another process repairing the same directory finds the same settled id (the cache is per directory: a copy).
  const again = mkdtempSync(join(tmpdir(), 'callgate-nolinks-again-'));
  t.after(() => rmSync(again, { recursive: true, force: true }));
  for (const name of readdirSync(old.dir)) {
    fs.copyFileSync(join(old.dir, name), join(again, name));
  }
  const before = new Date(Date.now() - 120_000);
  fs.writeFileSync(join(again, '.callgate-volume'), '');
  fs.utimesSync(join(again, '.callgate-volume'), before, before);
  fs.utimesSync(join(again, '.callgate-volume.repaired'), before, before);
  assert.equal(recordingsVolume(again, true), id);

  // A settling file written a moment ago may be another process's write under way: not passed over yet.
  const fresh = bothEmpty('fresh', 0);
  const oldId = new Date(Date.now() - 120_000);
  fs.utimesSync(fresh.file, oldId, oldId);
  assert.equal(recordingsVolume(fresh.dir, true), null);
  assert.equal(fs.existsSync(`${fresh.file}.repaired.1`), false);
});
