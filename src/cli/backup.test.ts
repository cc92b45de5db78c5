// `callgate backup`: a copy taken while the server runs restores into a server that knows the same tenant, numbers,
// calls and sealed provider credentials; and the command refuses what would not be a backup.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../../test/helpers/cli-process.ts';
import { type LiveServer, startLiveServer } from '../../test/helpers/live-server.ts';
import { startServerProcess } from '../../test/helpers/server-process.ts';

describe('callgate backup', () => {
  let live: LiveServer;
  let dir: string;

  before(async () => {
    live = await startLiveServer({ numbers: 1 });
    dir = mkdtempSync(join(tmpdir(), 'callgate-backup-cli-'));
  });
  after(async () => {
    await live.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a backup taken while serving restores: same tenant key, number, call, and its Meta token opens', async () => {
    const created = await fetch(`${live.url}/v1/numbers`, {
      method: 'POST',
      headers: { 'x-api-key': live.tenantKey.key, 'content-type': 'application/json' },
      body: JSON.stringify(live.numberInput(0, 'Support')),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const number = (await created.json()) as { number: { id: string }; apiKey: { key: string } };
    const call = await live.incomingCall(0, number.apiKey.key);

    const file = join(dir, 'callgate-backup.db');
    const backup = await runCli(['backup', file], live.env);
    assert.equal(backup.code, 0, backup.stderr);
    const printed = JSON.parse(backup.stdout);
    assert.equal(printed.path, file);
    assert.ok(printed.bytes > 0 && printed.schemaVersion >= 17, backup.stdout);
    assert.match(backup.stderr, new RegExp(`not in it: .*${join(live.env.DATA_DIR as string, 'secret.key')}`));

    // Restore as docs/operations.md says: the copy as callgate.db in a new DATA_DIR, with the same secret.key.
    const restoredDir = join(dir, 'restored');
    mkdirSync(restoredDir, { mode: 0o700 });
    copyFileSync(file, join(restoredDir, 'callgate.db'));
    copyFileSync(join(live.env.DATA_DIR as string, 'secret.key'), join(restoredDir, 'secret.key'));
    const restored = await startServerProcess({ ...live.env, DATA_DIR: restoredDir });
    try {
      const numbers = await fetch(`${restored.url}/v1/numbers`, { headers: { 'x-api-key': live.tenantKey.key } });
      assert.equal(numbers.status, 200);
      const listed = (await numbers.json()) as { data?: { id: string }[] } | { id: string }[];
      const ids = (Array.isArray(listed) ? listed : (listed.data ?? [])).map((n) => n.id);
      assert.deepEqual(ids, [number.number.id]);
      const seen = await fetch(`${restored.url}/v1/calls/${call.id}`, { headers: { 'x-api-key': number.apiKey.key } });
      assert.equal(seen.status, 200);
      assert.equal(((await seen.json()) as { status: string }).status, call.status);
      // Rejecting the ringing call asks Meta with the number's token: the sealed credentials opened.
      const before = live.fake.requests.length;
      const rejected = await fetch(`${restored.url}/v1/calls/${call.id}/reject`, {
        method: 'POST',
        headers: { 'x-api-key': number.apiKey.key, 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(rejected.status, 200, await rejected.clone().text());
      const sent = live.fake.requests.slice(before);
      assert.ok(
        sent.some((r) => r.headers.authorization === `Bearer ${live.metaNumbers[0]?.accessToken}`),
        'no Meta request carried the restored number token',
      );
    } finally {
      await restored.stop();
    }

    const again = await runCli(['backup', file], live.env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists: choose another name, or --force to replace it/);
    const replaced = await runCli(['backup', file, '--force'], live.env);
    assert.equal(replaced.code, 0, replaced.stderr);
  });

  test('refused without a store, on PostgreSQL, and without a file; nothing is created', async () => {
    const empty = join(dir, 'no-store-here');
    const noStore = await runCli(['backup', join(dir, 'x.db'), '--data-dir', empty], {});
    assert.equal(noStore.code, 1);
    assert.match(noStore.stderr, /no embedded store at .*no-store-here\/callgate\.db/);
    assert.equal(existsSync(empty), false, 'the data directory was created');

    const postgres = await runCli(['backup', join(dir, 'x.db')], {
      DATABASE_URL: 'postgres://callgate@127.0.0.1:1/callgate',
      SECRET_KEY: 'a-secret-key-long-enough-for-callgate',
    });
    assert.equal(postgres.code, 1);
    assert.match(postgres.stderr, /use pg_dump/);

    const noFile = await runCli(['backup'], live.env);
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr, /backup needs the file to write/);
    assert.equal(existsSync(join(dir, 'x.db')), false);
    writeFileSync(join(dir, 'marker'), ''); // the directory is still writable: the refusals were not an accident
  });
});
