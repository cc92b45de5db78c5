// The CLI's answers before it touches anything: --help/-h on every command and subcommand prints usage on stdout,
// exits 0 and does nothing else (no store opened or created, no worker started, no request sent); typos get
// "did you mean"; every missing flag is named at once; the store commands say which store they used.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from '../../test/helpers/cli-process.ts';
import { commandTable } from './completion.ts';

const table = commandTable();

describe('callgate --help and usage mistakes', () => {
  let cwd: string;
  // A server address nothing listens on: a command that sent a request would fail with exit 1, not 0.
  const env = { CALLGATE_URL: 'http://127.0.0.1:9', CALLGATE_API_KEY: 'ps_never_sent' };

  before(() => {
    cwd = mkdtempSync(join(tmpdir(), 'callgate-cli-help-'));
  });
  after(() => rmSync(cwd, { recursive: true, force: true }));

  // Both spellings on every command; on subcommands they alternate (each child process costs a Node start-up).
  const invocations: string[][] = [['--help'], ['-h'], ['help'], []];
  for (const [name, group] of Object.entries(table)) {
    invocations.push([name, '--help'], [name, '-h']);
    group.commands.forEach((sub, i) => {
      invocations.push([name, sub, i % 2 === 0 ? '--help' : '-h']);
    });
  }

  test('every command and subcommand answers --help and -h with usage, exit 0, and does nothing else', async () => {
    // A few at a time: each is a process start.
    for (let i = 0; i < invocations.length; i += 4) {
      const batch = invocations.slice(i, i + 4);
      const results = await Promise.all(batch.map((args) => runCli(args, env, { cwd })));
      results.forEach((r, j) => {
        const command = `callgate ${batch[j]?.join(' ')}`;
        assert.equal(r.code, 0, `${command} exits 0\n${r.stderr}`);
        assert.match(r.stdout, /^usage: callgate /, `${command} prints usage on stdout`);
        assert.equal(r.stderr, '', `${command} prints nothing else`);
      });
    }
    assert.deepEqual(readdirSync(cwd), [], 'no ./data (no store opened or created)');
  });

  test('callgate --help names every subcommand each group takes, and what a worker runs', async () => {
    const r = await runCli(['--help'], env, { cwd });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    for (const [name, group] of Object.entries(table)) {
      if (group.commands.length === 0 || name === 'completion') {
        continue;
      }
      const line = lines.find((l) => l.startsWith(`  ${name} `));
      assert.ok(line, `callgate --help has a line for ${name}`);
      const named = new Set(line.slice(name.length + 3).split(/[\s|]+/));
      for (const sub of group.commands) {
        assert.ok(named.has(sub), `callgate --help names "${name} ${sub}": ${line}`);
      }
    }
    assert.match(r.stdout, /^ {2}worker +deliver webhooks and run the sweeper/m);
    // simulate call's flags are spelled out there: each one it takes is named (--press and --keypad were not).
    const simulate = /^ {2}simulate call (?:.*\n)*?(?=^ {2}listen )/m.exec(r.stdout)?.[0] ?? '';
    for (const flag of table.simulate?.flags ?? []) {
      if (!/^--(url|key|key-id|json|help)$/.test(flag)) {
        assert.ok(simulate.includes(flag), `callgate --help names simulate call ${flag}:\n${simulate}`);
      }
    }
  });

  test('worker, migrate, tenants and backup --help neither start a worker, apply migrations nor copy', async () => {
    const dataDir = join(cwd, 'server-data');
    for (const command of ['worker', 'migrate', 'tenants', 'backup']) {
      const r = await runCli([command, '--help'], { DATA_DIR: dataDir }, { cwd });
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`^usage: callgate ${command}`));
    }
    assert.equal(existsSync(dataDir), false, 'the store was never opened');
  });

  test('an unknown command, subcommand or flag says "did you mean" and lists the valid ones (exit 2)', async () => {
    const command = await runCli(['clals', 'list'], env, { cwd });
    assert.equal(command.code, 2);
    assert.match(command.stderr, /^callgate: unknown command "clals"; did you mean "calls"\?\n {2}valid: tenants, /);
    const sub = await runCli(['calls', 'lsit'], env, { cwd });
    assert.equal(sub.code, 2);
    assert.match(sub.stderr, /unknown calls command "lsit"; did you mean "list"\?\n {2}valid: list, get, events/);
    const flag = await runCli(['calls', 'list', '--limt', '3'], env, { cwd });
    assert.equal(flag.code, 2);
    assert.match(
      flag.stderr,
      /unknown option "--limt"; did you mean "--limit"\?\n {2}valid: .*--status, --peer, --since\n$/,
      "only list's own flags, not every calls command's",
    );
    // Another command's flag is refused with this command's list, not taken and ignored.
    const foreign = await runCli(['calls', 'get', 'call_x', '--limit', '5'], env, { cwd });
    assert.equal(foreign.code, 2);
    assert.equal(
      foreign.stderr,
      'callgate: unknown option "--limit"\n  valid: --url, --key, --key-id, --json, --help, --sdp\n',
    );
    const webhookFlag = await runCli(['webhooks', 'logs', 'wh_x', '--events', 'call.ended'], env, { cwd });
    assert.equal(webhookFlag.code, 2);
    assert.match(
      webhookFlag.stderr,
      /did you mean "--event"\?\n {2}valid: --url, --key, --key-id, --json, --help, --limit, --event, --body\n$/,
    );
    const far = await runCli(['completion', 'fish'], env, { cwd });
    assert.equal(far.code, 2);
    assert.match(far.stderr, /unknown shell "fish"\n {2}valid: bash, zsh/, 'no guess when nothing is close');
    const storeFlag = await runCli(['tenants', 'create', '--nmae', 'X'], {}, { cwd });
    assert.equal(storeFlag.code, 2);
    assert.match(storeFlag.stderr, /did you mean "--name"\?/);
    assert.deepEqual(readdirSync(cwd), [], 'a usage mistake opens no store');
  });

  test('a missing argument is named with the usage line of its subcommand (exit 2)', async () => {
    const play = await runCli(['calls', 'play', 'call_x'], env, { cwd });
    assert.equal(play.code, 2);
    assert.equal(
      play.stderr,
      'callgate: missing <mediaUrl>\n  usage: callgate calls play <callId> <mediaUrl> [--stop-on-key]\n',
    );
    const remove = await runCli(['numbers', 'delete'], env, { cwd });
    assert.equal(
      remove.stderr,
      'callgate: missing <numberId>\n  usage: callgate numbers delete <numberId> [--force]\n',
    );
  });

  test('every missing flag is named at once; a bad event name lists the valid ones', async () => {
    const meta = await runCli(['numbers', 'create', '--provider', 'META', '--name', 'Support'], env, { cwd });
    assert.equal(meta.code, 2);
    assert.equal(
      meta.stderr,
      'callgate: numbers create needs --phone, --phone-number-id, --access-token, --app-secret, --verify-token\n',
    );
    const none = await runCli(['numbers', 'create'], env, { cwd });
    assert.equal(none.stderr, 'callgate: numbers create needs --name, --phone, --provider\n');
    const provider = await runCli(['numbers', 'create', '--provider', 'EVO'], env, { cwd });
    assert.match(
      provider.stderr,
      /--provider: unknown provider "EVO"; did you mean "EVO_GO"\?\n {2}valid: META, EVO_GO/,
    );

    const event = await runCli(
      ['webhooks', 'create', 'https://example.com/h', '--events', 'call.ended,call.endd'],
      env,
      {
        cwd,
      },
    );
    assert.equal(event.code, 2);
    assert.equal(
      event.stderr,
      'callgate: --events: unknown event "call.endd"; did you mean "call.ended"?\n' +
        '  valid: call.ringing, call.connected, call.ended, call.missed, call.permission_updated, calls, call.recording_ready, call.dtmf, *\n',
    );
    const logs = await runCli(['webhooks', 'logs', 'whk_1', '--event', '*'], env, { cwd });
    assert.match(logs.stderr, /--event: unknown event "\*"\n {2}valid: call.ringing, /, '"*" is no event to filter by');
    const listen = await runCli(['listen', '--forward-to', 'http://127.0.0.1:9/x', '--events', 'ended'], env, { cwd });
    assert.match(listen.stderr, /--events: unknown event "ended"/);
    const status = await runCli(['calls', 'list', '--status', 'RINGNG'], env, { cwd });
    assert.match(status.stderr, /--status: unknown status "RINGNG"; did you mean "RINGING"\?/);
  });

  test('a missing key names every way to give one, --key-id included, and where keys come from', async () => {
    const r = await runCli(['numbers', 'list'], { CALLGATE_URL: env.CALLGATE_URL }, { cwd });
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'callgate: an API key is needed: --key ps_... or CALLGATE_API_KEY (or its id: --key-id key_... or CALLGATE_API_KEY_ID); ' +
        "tenant keys come from `callgate tenants create`, run on the server's store (same DATA_DIR or DATABASE_URL); " +
        'number keys from `callgate numbers create` (shown once) or `callgate keys regenerate <numberId>`\n',
    );
  });

  test('a server address that is no http(s) URL is a usage mistake naming where it came from', async () => {
    // `localhost:8080` parses as a URL of scheme "localhost:": it failed as a network error (exit 1).
    const fromEnv = await runCli(['calls', 'list'], { ...env, CALLGATE_URL: 'localhost:8080' }, { cwd });
    assert.equal(fromEnv.code, 2);
    assert.equal(
      fromEnv.stderr,
      'callgate: CALLGATE_URL must be an http(s) URL such as http://localhost:8080, got "localhost:8080"\n',
    );
    const fromFlag = await runCli(['numbers', 'list', '--url', 'https://me:pw@'], env, { cwd });
    assert.equal(fromFlag.code, 2);
    assert.equal(
      fromFlag.stderr,
      'callgate: --url must be an http(s) URL such as http://localhost:8080, got "https://***@"\n',
    );
  });

  test('calls list --before that is neither a time nor a call id is a usage mistake, before any request', async () => {
    const r = await runCli(['calls', 'list', '--before', 'yesterday'], env, { cwd });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'callgate: --before is an ISO time (2026-01-31T12:00:00Z) or a call id (call_...)\n');
  });

  test('--limit outside the documented range is a usage mistake, filtered or not, before any request', async () => {
    // A filtered list pages on the client, so the server never saw --limit and 0 used to print one call.
    for (const args of [
      ['calls', 'list', '--limit', '0', '--status', 'COMPLETED'],
      ['calls', 'list', '--limit', '500', '--peer', '55'],
      ['calls', 'list', '--limit', '101'],
      ['calls', 'list', '--limit', '2.5'],
    ]) {
      const r = await runCli(args, env, { cwd });
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stderr, 'callgate: --limit is a whole number from 1 to 100\n', args.join(' '));
    }
    const logs = await runCli(['webhooks', 'logs', 'whk_1', '--limit', '51'], env, { cwd });
    assert.equal(logs.code, 2);
    assert.equal(logs.stderr, 'callgate: --limit is a whole number from 1 to 50\n');
  });

  test('store commands name the store on stderr, and say so when they create ./data', async () => {
    const first = await runCli(['tenants', 'create', '--name', 'Acme'], {}, { cwd });
    assert.equal(first.code, 0, first.stderr);
    assert.match(JSON.parse(first.stdout).apiKey.key, /^ps_/);
    const [created, used, generated, ...more] = first.stderr.trimEnd().split('\n');
    assert.match(created!, /^store: created .*\/data: \.\/data did not exist here and DATA_DIR is unset\. /);
    assert.match(created!, /--data-dir <the server's DATA_DIR> or DATABASE_URL/);
    assert.equal(used, 'store: sqlite ./data/callgate.db');
    // The key it generated is said once, where it is and why to keep it; never the key itself.
    const keyFile = join(realpathSync(cwd), 'data', 'secret.key');
    assert.equal(
      generated,
      `store: secret key generated at ${keyFile}: back it up with the database, ` +
        "it decrypts the numbers' provider credentials (or set SECRET_KEY)",
    );
    assert.ok(!first.stderr.includes(readFileSync(keyFile, 'utf8').trim()), 'the key is not printed');
    assert.deepEqual(more, []);

    const again = await runCli(['migrate'], {}, { cwd });
    assert.equal(again.code, 0);
    assert.equal(again.stderr, 'store: sqlite ./data/callgate.db\ndatabase is up to date\n', 'nothing created twice');

    const chosen = await runCli(['migrate', '--data-dir', join(cwd, 'elsewhere')], {}, { cwd });
    assert.match(
      chosen.stderr,
      /^store: created .*elsewhere \(it did not exist\)\nstore: sqlite .*elsewhere\/callgate\.db\n/,
    );

    const pg = await runCli(
      ['migrate', '--help'],
      { DATABASE_URL: 'postgres://u:pw@db.internal:5432/callgate' },
      { cwd },
    );
    assert.equal(pg.code, 0, '--help reads no configuration (DATABASE_URL without SECRET_KEY would be refused)');

    // The store line names host, port and database only, even for a password written with a / after digits (URL
    // parsers read "12/s3cret" as a port and a path); what follows is the connection's own failure.
    const slash = await runCli(
      ['migrate'],
      { DATABASE_URL: 'postgres://callgate:12/s3cret@127.0.0.1:1/calls', SECRET_KEY: 'k'.repeat(32) },
      { cwd },
    );
    assert.equal(slash.code, 1);
    assert.equal(slash.stderr.split('\n')[0], 'store: postgres 127.0.0.1:1/calls');
    assert.ok(!slash.stderr.includes('s3cret'), slash.stderr);
  });

  test('completion bash completes commands, subcommands and flags', async () => {
    const script = await runCli(['completion', 'bash'], {}, { cwd });
    assert.equal(script.code, 0);
    const complete = async (words: string[]) => {
      const { stdout } = await promisify(execFile)('bash', [
        '-c',
        `${script.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _callgate; echo "\${COMPREPLY[*]}"`,
      ]);
      return stdout.trim();
    };
    assert.equal(await complete(['callgate', 'we']), 'webhooks');
    assert.equal(await complete(['callgate', 'calls', 'te']), 'terminate');
    assert.equal(
      await complete(['callgate', 'calls', 'list', '--s']),
      '--status --since --sdp --seconds --stop-on-key',
    );
    assert.equal(await complete(['callgate', 'worker', '--']), '--data-dir --help --metrics-port');
    const zsh = await runCli(['completion', 'zsh'], {}, { cwd });
    assert.match(zsh.stdout, /^#compdef callgate\n/);
    assert.match(zsh.stdout, /bashcompinit/);
  });
});
