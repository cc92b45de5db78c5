// The embedded store's backup: a consistent copy while another process writes, never a partial file at the target.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../config.ts';
import { openStore } from './open-store.ts';
import { BackupRefused, backupSqlite } from './sqlite-backup.ts';

// Another process committing two rows per transaction as fast as it can, as a busy server would.
const WRITER = `
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(process.argv[1]);
db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000');
const insert = db.prepare('INSERT INTO backup_probe (pair, half) VALUES (?, ?)');
process.stdout.write('ready\\n');
for (let pair = 0; ; pair++) {
  db.exec('BEGIN IMMEDIATE');
  insert.run(pair, 0);
  insert.run(pair, 1);
  db.exec('COMMIT');
}`;

const rows = (path: string): number => {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return Number((db.prepare('SELECT count(*) AS n FROM backup_probe').get() as { n: number }).n);
  } finally {
    db.close();
  }
};

describe('embedded store backup', () => {
  let dir: string;
  let source: string;
  let schemaVersion: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'callgate-backup-'));
    const { db } = await openStore(loadConfig({ DATA_DIR: join(dir, 'data') }));
    await db.execute('CREATE TABLE backup_probe (pair INTEGER NOT NULL, half INTEGER NOT NULL)');
    const [row] = await db.query<{ v: number }>('SELECT max(version) AS v FROM schema_migrations');
    schemaVersion = Number(row?.v);
    await db.close();
    source = join(dir, 'data', 'callgate.db');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('copies whole transactions only while another process commits, owner-only, nothing left beside it', async () => {
    const writer: ChildProcess = spawn(process.execPath, ['-e', WRITER, source], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        writer.stdout?.once('data', () => resolve());
        writer.once('exit', (code) => reject(new Error(`writer exited ${code}`)));
      });
      let previous = 0;
      for (const name of ['one.db', 'two.db', 'three.db']) {
        await new Promise((r) => setTimeout(r, 50)); // let the writer commit more
        const target = join(dir, name);
        const result = backupSqlite(source, target);
        const copied = rows(target);
        assert.equal(copied % 2, 0, `${name} holds half a transaction (${copied} rows)`);
        assert.ok(copied > previous, `${name} holds ${copied} rows, not more than the backup before (${previous})`);
        previous = copied;
        assert.equal(result.schemaVersion, schemaVersion);
        assert.equal(result.bytes, statSync(target).size);
        assert.equal(statSync(target).mode & 0o777, 0o600);
      }
    } finally {
      const exited = new Promise((r) => writer.once('exit', r));
      writer.kill('SIGKILL');
      await exited; // it commits no more once gone: the next test compares copies with the store
    }
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('partial')),
      [],
    );
  });

  test('an existing file is kept unless replacing is asked for', () => {
    const target = join(dir, 'kept.db');
    writeFileSync(target, 'an earlier backup');
    assert.throws(
      () => backupSqlite(source, target),
      (e: Error) => e instanceof BackupRefused && /exists/.test(e.message),
    );
    assert.equal(readFileSync(target, 'utf8'), 'an earlier backup');
    backupSqlite(source, target, { replace: true });
    assert.equal(rows(target), rows(source));
  });

  test('refusals name what to change and write nothing', () => {
    const cases: [string, string, RegExp][] = [
      [join(dir, 'nowhere', 'callgate.db'), join(dir, 'a.db'), /no embedded store at/],
      [source, join(dir, 'missing-dir', 'a.db'), /does not exist: create it first/],
      [source, dir, /is a directory/],
    ];
    for (const [from, to, message] of cases) {
      assert.throws(
        () => backupSqlite(from, to),
        (e: Error) => e instanceof BackupRefused && message.test(e.message),
      );
    }
    assert.equal(existsSync(join(dir, 'a.db')), false);
    assert.equal(existsSync(join(dir, 'missing-dir')), false);
  });

  test('the store itself, or a file of SQLite beside it, is never the target, even with replacing asked for', () => {
    const before = rows(source);
    const inode = statSync(source).ino;
    const linkedDir = join(dir, 'linked-data');
    symlinkSync(join(dir, 'data'), linkedDir);
    for (const target of [source, `${source}-wal`, `${source}-shm`, join(linkedDir, 'callgate.db')]) {
      assert.throws(
        () => backupSqlite(source, target, { replace: true }),
        (e: Error) => e instanceof BackupRefused && /is the store itself/.test(e.message),
        target,
      );
    }
    assert.equal(rows(source), before);
    // Still the file the server has open: a copy renamed over it would be another file, the server's writes lost.
    assert.equal(statSync(source).ino, inode);
  });

  test('a link planted beside the target, at the name the copy used to be made under, is not written through', () => {
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'not a backup');
    const target = join(dir, 'planted.db');
    symlinkSync(victim, join(dir, `.planted.db.partial-${process.pid}`));
    backupSqlite(source, target);
    assert.equal(readFileSync(victim, 'utf8'), 'not a backup');
    assert.equal(rows(target), rows(source));
    assert.equal(lstatSync(target).isSymbolicLink(), false);
    rmSync(join(dir, `.planted.db.partial-${process.pid}`));
  });

  test('a database that is not a callgate store leaves no file at the target and no partial copy', () => {
    const other = join(dir, 'other.sqlite');
    const db = new DatabaseSync(other);
    db.exec('CREATE TABLE unrelated (x)');
    db.close();
    const target = join(dir, 'not-callgate.db');
    assert.throws(() => backupSqlite(other, target), /no callgate schema/);
    assert.equal(existsSync(target), false);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('partial')),
      [],
    );
  });
});
