// The embedded store's group commit: concurrent transactions share one COMMIT, yet each succeeds or fails
// alone, and none is answered before its rows are committed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { countWalCommits } from '../../test/helpers/wal-commits.ts';
import { StoreUnavailableError } from './db.ts';
import { SqliteDb } from './sqlite-db.ts';

describe('SqliteDb group commit', () => {
  let dir: string;
  let path: string;
  let db: SqliteDb;
  /** A second connection, as another process would read the file: it sees committed rows only. */
  const committed = (sql: string) => {
    const reader = new DatabaseSync(path, { readOnly: true });
    try {
      return reader.prepare(sql).all();
    } finally {
      reader.close();
    }
  };
  const count = (table: string) => Number((committed(`SELECT COUNT(*) AS n FROM ${table}`)[0] as { n: number }).n);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'callgate-sqlite-'));
    path = join(dir, 'test.db');
    db = new SqliteDb(path);
    db.exec('CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL)');
  });
  after(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('50 concurrent transactions all commit, in fewer commits than transactions', async () => {
    const commitsBefore = countWalCommits(`${path}-wal`);
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        db.transaction(async (tx) => {
          await tx.execute('INSERT INTO items (id, n) VALUES ($1, $2)', [`a${i}`, i]);
          await tx.execute('UPDATE items SET n = n + 1 WHERE id = $1', [`a${i}`]);
        }),
      ),
    );
    assert.equal(count("items WHERE id LIKE 'a%'"), 50);
    const commits = countWalCommits(`${path}-wal`) - commitsBefore;
    assert.ok(commits >= 1 && commits < 50, `${commits} commits for 50 transactions`);
  });

  test('a transaction that fails inside a group rolls back alone; the others commit', async () => {
    const results = await Promise.allSettled([
      db.transaction((tx) => tx.execute('INSERT INTO items (id, n) VALUES ($1, 1)', ['b1'])),
      db.transaction(async (tx) => {
        await tx.execute('INSERT INTO items (id, n) VALUES ($1, 2)', ['b2']);
        throw new Error('changed my mind');
      }),
      // A constraint violation after a successful statement: the whole transaction goes, not only the statement.
      db.transaction(async (tx) => {
        await tx.execute('INSERT INTO items (id, n) VALUES ($1, 3)', ['b3']);
        await tx.execute('INSERT INTO items (id, n) VALUES ($1, 3)', ['b1']);
      }),
      db.transaction((tx) => tx.execute('INSERT INTO items (id, n) VALUES ($1, 4)', ['b4'])),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'rejected', 'fulfilled'],
    );
    assert.equal((results[1] as PromiseRejectedResult).reason.message, 'changed my mind');
    assert.deepEqual(
      committed("SELECT id FROM items WHERE id LIKE 'b%' ORDER BY id").map((r) => (r as { id: string }).id),
      ['b1', 'b4'],
    );
  });

  test('a transaction resolves only once its rows are committed (another connection sees them)', async () => {
    const seen = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        db
          .transaction(async (tx) => {
            await tx.execute('INSERT INTO items (id, n) VALUES ($1, $2)', [`c${i}`, i]);
          })
          .then(() => committed(`SELECT id FROM items WHERE id = 'c${i}'`).length),
      ),
    );
    assert.deepEqual(seen, Array(20).fill(1));
  });

  test('a read queued beside a failing transaction never sees its rolled-back rows', async () => {
    const [, read] = await Promise.allSettled([
      db.transaction(async (tx) => {
        await tx.execute('INSERT INTO items (id, n) VALUES ($1, 0)', ['d1']);
        throw new Error('no');
      }),
      db.query<{ n: number }>("SELECT COUNT(*) AS n FROM items WHERE id = 'd1'"),
    ]);
    assert.equal(read.status, 'fulfilled');
    assert.equal(Number((read as PromiseFulfilledResult<{ n: number }[]>).value[0]!.n), 0);
  });

  test('a read issued while writes wait for their commit answers after that commit, and sees them', async () => {
    const write = db.transaction((tx) => tx.execute("INSERT INTO items (id, n) VALUES ('g1', 1)"));
    const read = db
      .query<{ n: number }>("SELECT COUNT(*) AS n FROM items WHERE id = 'g1'")
      .then((rows) => ({ read: Number(rows[0]!.n), committed: count("items WHERE id = 'g1'") }));
    await write;
    assert.deepEqual(await read, { read: 1, committed: 1 });
  });

  test('the Db used (by mistake) inside its own transaction runs in it instead of deadlocking', async () => {
    await assert.rejects(
      db.transaction(async () => {
        await db.execute('INSERT INTO items (id, n) VALUES ($1, 0)', ['e1']);
        assert.equal((await db.query("SELECT id FROM items WHERE id = 'e1'")).length, 1);
        throw new Error('roll it back');
      }),
      /roll it back/,
    );
    assert.equal(count("items WHERE id = 'e1'"), 0);
  });

  test('statements issued one after another, each right after the previous answer, all run', async () => {
    for (let i = 0; i < 200; i++) {
      await db.execute('INSERT INTO items (id, n) VALUES ($1, $2)', [`f${i}`, i]);
    }
    assert.equal(count("items WHERE id LIKE 'f%'"), 200);
  });

  test('a failed log sync answers no write and stops the store (503s) instead of serving what may be lost', async () => {
    const failing = new SqliteDb(join(dir, 'failing.db'), {
      fdatasync: (_fd, callback) =>
        setImmediate(() => callback(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }))),
    });
    failing.exec('CREATE TABLE items (id TEXT PRIMARY KEY)');
    await assert.rejects(failing.execute("INSERT INTO items (id) VALUES ('x')"), StoreUnavailableError);
    await assert.rejects(failing.query('SELECT id FROM items'), StoreUnavailableError);
    await assert.rejects(
      failing.transaction((tx) => tx.execute("INSERT INTO items (id) VALUES ('y')")),
      StoreUnavailableError,
    );
    await failing.close();
  });

  test('a write marked not durable is answered at its commit; a durable one only after the log sync', async () => {
    const held: (() => void)[] = [];
    const slow = new SqliteDb(join(dir, 'slow.db'), {
      fdatasync: (_fd, callback) => {
        held.push(() => callback(null));
      },
    });
    slow.exec('CREATE TABLE items (id TEXT PRIMARY KEY)');
    let durableDone = false;
    const durable = slow.execute("INSERT INTO items (id) VALUES ('d')").then(() => {
      durableDone = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(durableDone, false, 'answered before its sync');
    assert.equal(await slow.execute("INSERT INTO items (id) VALUES ('n')", [], { durable: false }), 1);
    assert.equal(durableDone, false);
    while (held.length > 0) {
      held.shift()!();
    }
    await durable;
    await slow.close();
  });
});
