// The server process as an operator starts it: the ready line names the URLs, GET / leads to the dashboard,
// each request is one log line, and LOG_FORMAT picks JSON or pretty lines (JSON when stdout is not a terminal).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServerProcess } from '../test/helpers/server-process.ts';
import { SecretBox } from './auth/secret-box.ts';
import { loadConfig } from './config.ts';
import { newNumberId, newTenantId } from './ids.ts';
import { insertNumber } from './store/numbers.ts';
import { openStore } from './store/open-store.ts';
import { insertTenant } from './store/tenants.ts';

describe('server start-up and logs', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'callgate-server-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('JSON logs: the ready line names API, /docs and /dashboard; GET / redirects; one line per request', async () => {
    const server = await startServerProcess({ DATA_DIR: dataDir });
    try {
      const ready = await waitForLog(server.logs, (l) => l.includes('callgate ready'));
      const line = JSON.parse(ready);
      assert.equal(
        line.msg,
        `callgate ready: API ${server.url}/v1, reference ${server.url}/docs, dashboard ${server.url}/dashboard`,
      );
      assert.equal(line.docs, `${server.url}/docs`);
      assert.equal(line.metrics, `${server.url}/metrics`);
      // The store it opened, as `callgate tenants create` names the one it used: a key made elsewhere is obvious.
      assert.equal(line.store, 'sqlite');
      assert.equal(line.storeAt, `sqlite ${dataDir}/callgate.db`);

      const root = await fetch(`${server.url}/`, { redirect: 'manual', headers: { 'x-request-id': 'req-root' } });
      assert.equal(root.status, 302);
      assert.equal(root.headers.get('location'), '/dashboard');

      // A probe answered is a debug line: not written at the default level (health.test.ts has the levels).
      await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'req-health' } });
      // A later request's line is written after every line of the earlier one.
      await fetch(`${server.url}/dashboard`, { headers: { 'x-request-id': 'req-after' } });
      await waitForLog(server.logs, (l) => l.includes('"req-after"'));
      assert.equal(server.logs.filter((l) => l.includes('"req-health"')).length, 0, 'no line for an answered probe');
      const lines = server.logs.filter((l) => l.includes('"req-root"')).map((l) => JSON.parse(l));
      assert.equal(lines.length, 1, 'one line per request');
      assert.equal(lines[0].msg, 'GET / 302');
      assert.equal(lines[0].res.statusCode, 302);
      assert.equal(typeof lines[0].responseTime, 'number');
    } finally {
      await server.stop();
    }
  });

  test('the first start says it generated DATA_DIR/secret.key and that it must be backed up; later ones do not', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'callgate-server-key-'));
    try {
      const first = await startServerProcess({ DATA_DIR: fresh, MEDIA_WARMUP: 'off' });
      await waitForLog(first.logs, (l) => l.includes('callgate ready'));
      await first.stop();
      const keyFile = join(fresh, 'secret.key');
      const said = first.logs.filter((l) => l.includes('secret key generated')).map((l) => JSON.parse(l));
      assert.equal(said.length, 1, first.logs.join('\n'));
      assert.equal(said[0].level, 40, 'a warning: the file is to be backed up');
      assert.equal(said[0].path, keyFile);
      assert.equal(
        said[0].msg,
        `secret key generated at ${keyFile}: back it up with the database, ` +
          "it decrypts the numbers' provider credentials (or set SECRET_KEY)",
      );
      const key = readFileSync(keyFile, 'utf8').trim();
      assert.ok(!first.logs.some((l) => l.includes(key)), 'the key itself is never logged');

      const second = await startServerProcess({ DATA_DIR: fresh, MEDIA_WARMUP: 'off' });
      await waitForLog(second.logs, (l) => l.includes('callgate ready'));
      await second.stop();
      assert.deepEqual(
        second.logs.filter((l) => l.includes('secret key generated')),
        [],
        'an existing key is not news',
      );
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  test('SIGTERM: "shutting down", then "callgate stopped" with how long it took, and exit 0', async () => {
    const server = await startServerProcess({ DATA_DIR: dataDir });
    await waitForLog(server.logs, (l) => l.includes('callgate ready'));
    assert.equal(await server.stop('SIGTERM'), 0);
    const lines = server.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const shutting = lines.findIndex((l) => l.msg === 'shutting down');
    assert.ok(shutting >= 0, 'the signal is said');
    const stopped = lines.at(-1);
    assert.match(stopped?.msg ?? '', /^callgate stopped: shut down in \d+ ms$/, 'the last line says the stop finished');
    assert.equal(stopped?.signal, 'SIGTERM');
    assert.equal(typeof stopped?.durationMs, 'number');
  });

  test('LOG_FORMAT=pretty prints readable lines, not JSON', async () => {
    const server = await startServerProcess(
      { DATA_DIR: dataDir, LOG_FORMAT: 'pretty' },
      'src/main.mjs',
      [],
      /callgate ready/,
    );
    try {
      const ready = await waitForLog(server.logs, (l) => l.includes('callgate ready'));
      assert.match(ready, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: callgate ready: API http:\/\/127\.0\.0\.1:\d+\/v1, /);
      assert.throws(() => JSON.parse(ready));
    } finally {
      await server.stop();
    }
  });
});

describe('server start-up with a setting it cannot use', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'callgate-server-bad-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('an invalid value exits 1 with one line naming the variable, no stack trace', async () => {
    const run = await runServer({ DATA_DIR: dataDir, PORT: 'abc' });
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'callgate: PORT must be an integer from 0 to 65535, got "abc"\n');
    const level = await runServer({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'loud' });
    assert.equal(level.code, 1);
    assert.match(level.stderr, /^callgate: LOG_LEVEL must be one of [^\n]+, got "loud"\n$/);
  });

  test('a store that cannot be opened exits 1 with one line saying where, never a password', async () => {
    const file = join(dataDir, 'not-a-directory');
    writeFileSync(file, '');
    const embedded = await runServer({ DATA_DIR: join(file, 'data'), PORT: '0' });
    assert.equal(embedded.code, 1);
    assert.equal(
      embedded.stderr,
      `callgate: cannot open the embedded store in DATA_DIR=${join(file, 'data')}: ENOTDIR\n`,
    );
    // Nothing listens on port 1: the connection is refused at once.
    const postgres = await runServer({
      DATABASE_URL: 'postgres://callgate:s3cret@127.0.0.1:1/calls',
      SECRET_KEY: 'k'.repeat(32),
      PORT: '0',
    });
    assert.equal(postgres.code, 1);
    assert.equal(
      postgres.stderr,
      'callgate: cannot open the PostgreSQL store at 127.0.0.1:1/calls (DATABASE_URL): ECONNREFUSED\n',
    );
    // pg takes a URL with no host before the path (host in the query, as for a socket directory); WHATWG URL
    // does not, and its error would carry the whole URL, password included.
    const hostInQuery = await runServer({
      DATABASE_URL: 'postgres://callgate:s3cret@/calls?host=127.0.0.1&port=1',
      SECRET_KEY: 'k'.repeat(32),
      PORT: '0',
    });
    assert.equal(hostInQuery.code, 1);
    assert.equal(
      hostInQuery.stderr,
      'callgate: cannot open the PostgreSQL store at 127.0.0.1/calls (DATABASE_URL): ECONNREFUSED\n',
    );
    // A password written unencoded with a / after digits reads as a port and a path to URL parsers: the location
    // named is still only the host, port and database.
    const slashInPassword = await runServer({
      DATABASE_URL: 'postgres://callgate:12/s3cret@127.0.0.1:1/calls',
      SECRET_KEY: 'k'.repeat(32),
      PORT: '0',
    });
    assert.equal(slashInPassword.code, 1);
    assert.match(
      slashInPassword.stderr,
      /^callgate: cannot open the PostgreSQL store at [^\n]+ \(DATABASE_URL\): E\w+\n$/,
    );
    assert.ok(!slashInPassword.stderr.includes('s3cret'), slashInPassword.stderr);
    // A port that is not a number: pg refuses to parse the URL at the first connection.
    const unreadable = await runServer({
      DATABASE_URL: 'postgres://callgate:s3cret@127.0.0.1:fivefourthreetwo/calls',
      SECRET_KEY: 'k'.repeat(32),
      PORT: '0',
    });
    assert.equal(unreadable.code, 1);
    assert.equal(
      unreadable.stderr,
      'callgate: DATABASE_URL is not a URL the PostgreSQL driver can read (postgres://user:password@host:port/database)\n',
    );
  });

  test('a DATA_DIR that cannot be made (under /proc) exits 1 with one line at once, not a hung start', async () => {
    // Node's recursive mkdir loops for ever when mkdir answers ENOENT under a parent that exists, as procfs does.
    const under = await runServer({ DATA_DIR: '/proc/callgate-data/data', PORT: '0' }, HANG_MS);
    assert.equal(under.code, 1);
    assert.equal(
      under.stderr,
      'callgate: cannot open the embedded store in DATA_DIR=/proc/callgate-data/data: ENOENT\n',
    );
    // A directory that exists but takes no file: the store's file fails with a code that is not a usual one.
    const proc = await runServer({ DATA_DIR: '/proc/self', PORT: '0' }, HANG_MS);
    assert.equal(proc.code, 1);
    assert.equal(proc.stderr, 'callgate: cannot open the embedded store in DATA_DIR=/proc/self: ENOENT\n');
  });

  test('a RECORDINGS_DIR that cannot be made (under /proc) is a warning at start, and the server starts', async () => {
    const server = await startServerProcess({ DATA_DIR: dataDir, RECORDINGS_DIR: '/proc/callgate-recordings/r' });
    try {
      const warning = JSON.parse(await waitForLog(server.logs, (l) => l.includes('RECORDINGS_DIR cannot be')));
      assert.equal(warning.msg, 'RECORDINGS_DIR cannot be written: recordings will fail');
      assert.equal(warning.dir, '/proc/callgate-recordings/r');
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    } finally {
      await server.stop();
    }
  });

  test('a PostgreSQL server that drops the connection, wants a password or refuses the login: one line, exit 1', async () => {
    const pg = await fakePostgres();
    const env = (user: string) => ({
      DATABASE_URL: `postgres://${user}@127.0.0.1:${pg.port}/calls`,
      SECRET_KEY: 'k'.repeat(32),
      PORT: '0',
    });
    const where = `127.0.0.1:${pg.port}/calls (DATABASE_URL)`;
    try {
      // Errors without a code (pg's own words) were thrown with their stack.
      const dropped = await runServer(env('drop:s3cret'));
      assert.equal(dropped.code, 1);
      assert.equal(
        dropped.stderr,
        `callgate: cannot open the PostgreSQL store at ${where}: Connection terminated unexpectedly\n`,
      );
      const noPassword = await runServer(env('scram'));
      assert.equal(noPassword.code, 1);
      assert.equal(
        noPassword.stderr,
        `callgate: cannot open the PostgreSQL store at ${where}: the server asks for a password and DATABASE_URL has none\n`,
      );
      // A SQLSTATE comes with the server's sentence, which names no password.
      const refused = await runServer(env('refuse:s3cret'));
      assert.equal(refused.code, 1);
      assert.equal(
        refused.stderr,
        `callgate: cannot open the PostgreSQL store at ${where}: 28P01 password authentication failed for user "refuse"\n`,
      );
      // The store commands say the same and exit: the driver left the refused login's socket open, and the command
      // hung after its error until killed.
      const cli = await runCli(['tenants', 'create', '--name', 'Acme'], env('scram'), 30_000);
      assert.equal(cli.code, 1);
      assert.equal(
        cli.stderr,
        `store: postgres 127.0.0.1:${pg.port}/calls\n` +
          `callgate: cannot open the PostgreSQL store at ${where}: the server asks for a password and DATABASE_URL has none\n`,
      );
    } finally {
      await pg.close();
    }
  });

  test('a port already in use exits 1 naming HOST and PORT, no stack trace', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const run = await runServer({ DATA_DIR: dataDir, PORT: String(port), MEDIA_WARMUP: 'off' });
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        new RegExp(`^callgate: cannot listen on HOST=127\\.0\\.0\\.1 PORT=${port}: EADDRINUSE\n$`),
      );
    } finally {
      taken.close();
    }
  });

  test('a port in use fails before the media warm-up: no warm-up work, no "warmed up" line', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      // MEDIA_WARMUP on (the default): the warm-up waits for the listen, which fails.
      const run = await runServer({ DATA_DIR: dataDir, PORT: String(port), MEDIA_WARMUP: 'on' });
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        new RegExp(`^callgate: cannot listen on HOST=127\\.0\\.0\\.1 PORT=${port}: EADDRINUSE\n$`),
      );
      assert.doesNotMatch(run.stdout, /warmed up|warm-up|media workers ready/);
    } finally {
      taken.close();
    }
  });

  test('once listening, the media engine warms up (MEDIA_WARMUP on)', async () => {
    const server = await startServerProcess({ DATA_DIR: dataDir, MEDIA_WARMUP: 'on' });
    try {
      await waitForLog(server.logs, (l) => l.includes('media engine warmed up'), 30_000);
    } finally {
      await server.stop();
    }
  });
});

describe('server start-up with a SECRET_KEY that cannot open the store', () => {
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'callgate-server-key-'));
    // A number sealed with the store's own generated key, as the server would have sealed it.
    const { db, secretKey } = await openStore(loadConfig({ DATA_DIR: dataDir }));
    const now = new Date().toISOString();
    const tenantId = newTenantId();
    await insertTenant(db, { id: tenantId, name: 'T', createdAt: now });
    await insertNumber(db, {
      id: newNumberId(),
      tenantId,
      name: 'N',
      phoneNumber: '+551140040000',
      provider: 'META',
      metaPhoneNumberId: '110200345567891',
      publicConfig: {},
      secretConfig: new SecretBox(secretKey).seal('{"accessToken":"EAAG"}'),
      createdAt: now,
      updatedAt: now,
    });
    await db.close();
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  const refused = (source: string) =>
    `callgate: ${source} cannot decrypt the provider credentials in the store: they were sealed with another key ` +
    '(every process needs the SECRET_KEY they were created with; while replacing it, the old one as ' +
    'SECRET_KEY_PREVIOUS)\n';

  test('another SECRET_KEY exits 1 with one line saying so, before it answers anything', async () => {
    const run = await runServer({ DATA_DIR: dataDir, PORT: '0', SECRET_KEY: 'not-the-key-the-store-was-sealed-with' });
    assert.equal(run.code, 1);
    assert.equal(run.stderr, refused('SECRET_KEY'));
  });

  test('so does `callgate worker`, which would otherwise fail every delivery', async () => {
    const run = await runCli(['worker'], { DATA_DIR: dataDir, SECRET_KEY: 'not-the-key-the-store-was-sealed-with' });
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`${escapeRegExp(refused('SECRET_KEY').trim())}\n$`));
  });

  test('a secret.key that is not the one the store was sealed with names that file', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'callgate-server-key-'));
    try {
      cpSync(dataDir, copy, { recursive: true });
      writeFileSync(join(copy, 'secret.key'), 'another-generated-key');
      const run = await runServer({ DATA_DIR: copy, PORT: '0' });
      assert.equal(run.code, 1);
      assert.equal(run.stderr, refused(`the key in ${join(copy, 'secret.key')}`));
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  test('a new SECRET_KEY with the old one as SECRET_KEY_PREVIOUS starts; after `secret-key rotate` it alone does', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'callgate-server-key-'));
    try {
      cpSync(dataDir, copy, { recursive: true });
      const generated = readFileSync(join(copy, 'secret.key'), 'utf8').trim();
      const fresh = 'a-brand-new-secret-key-for-this-store';
      const newAlone = await runServer({ DATA_DIR: copy, PORT: '0', SECRET_KEY: fresh });
      assert.equal(newAlone.stderr, refused('SECRET_KEY'), 'the new key alone cannot open the store yet');

      const both = { DATA_DIR: copy, SECRET_KEY: fresh, SECRET_KEY_PREVIOUS: generated, MEDIA_WARMUP: 'off' };
      const during = await startServerProcess(both);
      try {
        assert.equal((await fetch(`${during.url}/readyz`)).status, 200);
      } finally {
        await during.stop();
      }
      // The rotating shell's key mistyped: no process started with it, so nothing is sealed under it.
      const typo = await runCli(['secret-key', 'rotate'], { ...both, SECRET_KEY: `${fresh}x` });
      assert.equal(typo.code, 1);
      assert.match(typo.stderr, /no callgate process has started with this SECRET_KEY\. Nothing was re-sealed/);
      const typoDryRun = await runCli(['secret-key', 'rotate', '--dry-run'], { ...both, SECRET_KEY: `${fresh}x` });
      assert.equal(typoDryRun.code, 1, 'a dry run fails as the run would');
      assert.match(typoDryRun.stderr, /A run would re-seal nothing/);
      const refusedCounts = JSON.parse(typoDryRun.stdout);
      assert.equal(refusedCounts.secretKeyInUse, false);
      assert.deepEqual(Object.values(refusedCounts.resealed), [0, 0, 0, 0], 'and counts what the run would do');
      const dryRun = await runCli(['secret-key', 'rotate', '--dry-run'], both);
      assert.equal(dryRun.code, 0, dryRun.stderr);
      const counted = JSON.parse(dryRun.stdout);
      assert.equal(counted.dryRun, true);
      assert.equal(counted.secretKeyInUse, true);
      assert.ok(counted.resealed.numbers >= 1, dryRun.stdout);
      const rotate = await runCli(['secret-key', 'rotate'], both);
      assert.equal(rotate.code, 0, rotate.stderr);
      // What the dry run counted is what the run did, so neither the typo nor the dry run wrote anything.
      assert.deepEqual(JSON.parse(rotate.stdout).resealed, counted.resealed);

      const rotated = await startServerProcess({ DATA_DIR: copy, SECRET_KEY: fresh, MEDIA_WARMUP: 'off' });
      try {
        assert.equal((await fetch(`${rotated.url}/readyz`)).status, 200);
      } finally {
        await rotated.stop();
      }
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  test('the right key starts', async () => {
    const server = await startServerProcess({ DATA_DIR: dataDir, MEDIA_WARMUP: 'off' });
    try {
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    } finally {
      await server.stop();
    }
  });
});

/** How long a start that should fail at once may run before it counts as hung (and is killed). */
const HANG_MS = 60_000;

/** Runs `node src/main.mjs` to its exit (killed after killAfterMs, when given: a hang); stderr kept apart. */
function runServer(
  env: Record<string, string>,
  killAfterMs?: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'main.mjs')], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (killAfterMs !== undefined) {
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', () => clearTimeout(timer));
  }
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Runs `node src/cli/main.ts ...args` to its exit (killed after killAfterMs, when given: a hang). */
function runCli(
  args: string[],
  env: Record<string, string>,
  killAfterMs?: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'cli/main.ts'), ...args], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (killAfterMs !== undefined) {
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', () => clearTimeout(timer));
  }
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/**
 * Just enough of a PostgreSQL server to refuse a login, as the user name asks: `drop` closes the connection after
 * the startup message, `scram` starts SCRAM-SHA-256 (pg then needs a password), any other answers 28P01. It keeps
 * every connection open until the client closes it, as a real server waiting for the next message does.
 */
async function fakePostgres(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (startup) => {
      // length, protocol version, then name/value pairs, each ended by a NUL.
      const fields = startup.subarray(8).toString('utf8').split('\0');
      const user = fields[fields.indexOf('user') + 1] ?? '';
      if (user === 'drop') {
        socket.destroy();
      } else if (user === 'scram') {
        socket.write(message('R', Buffer.concat([int32(10), Buffer.from('SCRAM-SHA-256\0\0')])));
        // The client's first SCRAM message, then the server's: pg wants the password only now.
        socket.once('data', () =>
          socket.write(message('R', Buffer.concat([int32(11), Buffer.from('r=x,s=eQ==,i=1')]))),
        );
      } else {
        const text = `SFATAL\0C28P01\0Mpassword authentication failed for user "${user}"\0\0`;
        socket.write(message('E', Buffer.from(text)));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const socket of sockets) {
        socket.destroy();
      }
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** One backend message: its type byte, its length (itself included), its body. */
function message(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function waitForLog(logs: string[], match: (line: string) => boolean, ms = 5000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = logs.find(match);
    if (found !== undefined) {
      return found;
    }
    if (Date.now() > deadline) {
      throw new Error(`no such log line:\n${logs.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
