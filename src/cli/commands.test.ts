// The remote commands as child processes against a server process: --json for scripts (JSON only on stdout),
// tables otherwise, errors on stderr with the code and request id, and the documented exit codes.
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startWebhookReceiver, type WebhookReceiver } from '../../test/fakes/webhook-receiver.ts';
import { type CliResult, runCli, startCli } from '../../test/helpers/cli-process.ts';
import type { Json } from '../../test/helpers/json.ts';
import { callgateCli, type LiveServer, nextPeer, startLiveServer } from '../../test/helpers/live-server.ts';

/** Parses stdout as exactly one JSON document, failing loudly otherwise. */
function json(r: CliResult): Json {
  assert.equal(r.code, 0, `exit ${r.code}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** `numbers create` flags for a Meta number given as the API takes it. */
function metaFlags(n: ReturnType<LiveServer['numberInput']>): string[] {
  return [
    ...['--name', n.name, '--phone', n.phoneNumber, '--provider', 'META'],
    ...['--phone-number-id', n.meta.phoneNumberId, '--access-token', n.meta.accessToken],
    ...['--app-secret', n.meta.appSecret, '--verify-token', n.meta.verifyToken],
  ];
}

describe('callgate remote commands', () => {
  let live: LiveServer;
  let receiver: WebhookReceiver;
  let tenantEnv: Record<string, string>;
  let numberEnv: Record<string, string>;
  let numberId: string;

  before(async () => {
    live = await startLiveServer();
    receiver = await startWebhookReceiver();
    tenantEnv = { CALLGATE_URL: live.url, CALLGATE_API_KEY: live.tenantKey.key };
  });
  after(async () => {
    await receiver.close();
    await live.close();
  });

  test('numbers create/list/get/delete, with --json and as tables', async () => {
    const n = live.numberInput(0, 'Support');
    const created = json(
      await runCli(
        [
          'numbers',
          'create',
          '--json',
          '--name',
          n.name,
          '--phone',
          n.phoneNumber,
          '--provider',
          'META',
          '--phone-number-id',
          n.meta.phoneNumberId,
          '--waba-id',
          n.meta.wabaId,
          '--access-token',
          n.meta.accessToken,
          '--app-secret',
          n.meta.appSecret,
          '--verify-token',
          n.meta.verifyToken,
        ],
        tenantEnv,
      ),
    );
    assert.match(created.number.id, /^num_/);
    assert.match(created.apiKey.key, /^ps_/);
    numberId = created.number.id;
    numberEnv = { CALLGATE_URL: live.url, CALLGATE_API_KEY: created.apiKey.key };

    assert.deepEqual(
      json(await runCli(['numbers', 'list', '--json'], tenantEnv)).map((x: { id: string }) => x.id),
      [numberId],
    );
    assert.equal(
      json(await runCli(['numbers', 'get', numberId, '--json'], tenantEnv)).meta.phoneNumberId,
      n.meta.phoneNumberId,
    );

    const table = await runCli(['numbers', 'list'], tenantEnv);
    assert.equal(table.code, 0);
    const [header, row] = table.stdout.trim().split('\n');
    assert.match(header!, /^ID\s+NAME\s+PHONE\s+PROVIDER\s+STATE\s+CREATED$/);
    assert.match(
      row!,
      new RegExp(
        `^${numberId}\\s+Support\\s+\\${n.phoneNumber}\\s+META\\s+OPEN\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d$`,
      ),
    );

    const other = json(
      await runCli(
        [
          'numbers',
          'create',
          '--json',
          '--name',
          'Web',
          '--phone',
          '+5511400400777',
          '--provider',
          'EVO_GO',
          '--base-url',
          'https://evo.example.com',
          '--instance-id',
          'inst-1',
          '--instance-token',
          'tok',
        ],
        tenantEnv,
      ),
    );
    assert.equal(other.number.provider, 'EVO_GO');
    const deleted = await runCli(['numbers', 'delete', other.number.id], tenantEnv);
    assert.equal(deleted.stdout, `Deleted ${other.number.id} (its calls and key too)\n`);
    const gone = await runCli(['numbers', 'get', other.number.id], tenantEnv);
    assert.equal(gone.code, 1);
    assert.equal(gone.stdout, '', 'nothing on stdout on failure');
    assert.match(gone.stderr, /^callgate: HTTP 404 NUMBER_NOT_FOUND: Number not found \(request req_\w+\)\n$/);
  });

  test('numbers update --record-calls turns recording of every server-media call on and off', async () => {
    const on = await runCli(['numbers', 'update', numberId, '--record-calls', 'on'], tenantEnv);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /^record calls:\s+yes \(server-media calls, unless a call says record: false\)$/m);
    assert.equal(json(await runCli(['numbers', 'get', numberId, '--json'], tenantEnv)).recordCalls, true);
    const off = json(await runCli(['numbers', 'update', numberId, '--record-calls', 'off', '--json'], tenantEnv));
    assert.equal(off.recordCalls, false);
    const typo = await runCli(['numbers', 'update', numberId, '--record-calls', 'yes'], tenantEnv);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /--record-calls: unknown value "yes".*\n {2}valid: on, off/);
    const nothing = await runCli(['numbers', 'update', numberId], tenantEnv);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /numbers update needs what to change: --record-calls on\|off/);
  });

  test('calls settings shows the calling settings and turns calling off and on', async () => {
    // Put back as found: with callback permission on, Meta grants one to every caller (call.permission_updated),
    // which the other tests of this number do not expect.
    const found = json(await runCli(['calls', 'settings', '--json'], numberEnv));
    try {
      const off = await runCli(['calls', 'settings', '--calling', 'off'], numberEnv);
      assert.equal(off.code, 0, off.stderr);
      assert.match(off.stdout, /^calling:\s+DISABLED$/m);
      const shown = json(await runCli(['calls', 'settings', '--json'], numberEnv));
      assert.equal(shown.status, 'DISABLED');
      const on = json(
        await runCli(['calls', 'settings', '--calling', 'on', '--callback-permission', 'on', '--json'], numberEnv),
      );
      assert.equal(on.status, 'ENABLED');
      assert.equal(on.callback_permission_status, 'ENABLED');
      const table = await runCli(['calls', 'settings'], numberEnv);
      assert.match(table.stdout, /^calling:\s+ENABLED$/m);
      assert.match(table.stdout, /^callback permission:\s+ENABLED$/m);
      const typo = await runCli(['calls', 'settings', '--calling', 'disabled'], numberEnv);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /--calling: unknown value "disabled".*\n {2}valid: on, off/);
    } finally {
      const onOff = (value: unknown) => (value === 'DISABLED' ? 'off' : 'on');
      const restored = await runCli(
        [
          'calls',
          'settings',
          '--calling',
          onOff(found.status),
          '--callback-permission',
          found.callback_permission_status === 'ENABLED' ? 'on' : 'off',
        ],
        numberEnv,
      );
      assert.equal(restored.code, 0, restored.stderr);
    }
  });

  test('numbers delete is refused while a call rings, with the way out; --force deletes it', async () => {
    const created = json(
      await runCli(['numbers', 'create', '--json', ...metaFlags(live.numberInput(1, 'Stuck'))], tenantEnv),
    );
    const id = created.number.id as string;
    const ringing = await live.incomingCall(1, created.apiKey.key);
    const refused = await runCli(['numbers', 'delete', id], tenantEnv);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /^callgate: HTTP 409 NUMBER_HAS_LIVE_CALLS: /);
    assert.ok(refused.stderr.includes(`"liveCalls":["${ringing.id}"]`), refused.stderr);
    assert.ok(refused.stderr.includes('delete with --force'), refused.stderr);
    assert.equal(json(await runCli(['numbers', 'get', id, '--json'], tenantEnv)).id, id, 'still there');
    const forced = await runCli(['numbers', 'delete', id, '--force'], tenantEnv);
    assert.equal(forced.stdout, `Deleted ${id} (its calls and key too)\n`);
    assert.equal((await runCli(['numbers', 'get', id], tenantEnv)).code, 1);
  });

  test('keys list is masked; keys regenerate prints the new key once', async () => {
    // The API's (and Pilot's) shape: one item per number, the key masked.
    const keys = json(await runCli(['keys', 'list', '--json'], tenantEnv));
    assert.deepEqual(
      keys.map((k: { numberId: string }) => k.numberId),
      [numberId],
    );
    const table = await runCli(['keys', 'list'], tenantEnv);
    assert.ok(!table.stdout.includes(numberEnv.CALLGATE_API_KEY!), 'never a whole key');
    assert.match(table.stdout, new RegExp(`ps_…${numberEnv.CALLGATE_API_KEY!.slice(-4)}`));
    // The phone as `numbers list` shows it: the API's masked key carries its digits only (Pilot's shape).
    const phone = json(await runCli(['numbers', 'get', numberId, '--json'], tenantEnv)).phoneNumber;
    assert.match(table.stdout, new RegExp(`^${numberId}\\s+\\${phone}\\s+key_`, 'm'));

    const status = json(await runCli(['numbers', 'status', numberId, '--json'], tenantEnv));
    assert.deepEqual({ id: status.id, state: status.state }, { id: numberId, state: 'OPEN' });

    const exists = await runCli(['keys', 'create', numberId], tenantEnv);
    assert.equal(exists.code, 1, 'a number has one key: create refuses, regenerate replaces');
    assert.match(exists.stderr, /API_KEY_EXISTS/);

    const regenerated = json(await runCli(['keys', 'regenerate', numberId, '--json'], tenantEnv));
    assert.equal(regenerated.numberId, numberId);
    const stale = await runCli(['calls', 'list'], numberEnv);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /UNAUTHORIZED/);
    // Which key was sent (masked) and where keys come from.
    const last4 = numberEnv.CALLGATE_API_KEY!.slice(-4);
    assert.match(
      stale.stderr,
      new RegExp(`\\n  ${live.url.replace(/[.]/g, '\\.')} does not know the key sent as x-api-key \\(ps_…${last4}\\)`),
    );
    assert.match(stale.stderr, /callgate tenants create`, run on the server's store/);
    assert.ok(!stale.stderr.includes(numberEnv.CALLGATE_API_KEY!), 'never the whole key');
    numberEnv = { ...numberEnv, CALLGATE_API_KEY: regenerated.apiKey.key };
    const wrongScope = await runCli(['calls', 'list'], tenantEnv);
    assert.equal(wrongScope.code, 1);
    assert.match(wrongScope.stderr, /HTTP 403 TENANT_SCOPE_NOT_ALLOWED/);
    assert.match(wrongScope.stderr, /this command needs a number key \(scope: number\) and ps_…\w{4} is a tenant key/);
    const numberOnTenantRoute = await runCli(['keys', 'list', '--json'], numberEnv);
    assert.equal(JSON.parse(numberOnTenantRoute.stderr).hint.startsWith('this command needs a tenant key'), true);
  });

  test('calls list/get/events/terminate', async () => {
    const ringingPeer = nextPeer();
    const ringing = await live.incomingCall(0, numberEnv.CALLGATE_API_KEY!, ringingPeer);
    const older = await live.incomingCall(0, numberEnv.CALLGATE_API_KEY!);
    // Filters: status, part of the peer's number, started since.
    const ids = (r: CliResult) => json(r).calls.map((c: { id: string }) => c.id);
    assert.deepEqual(ids(await runCli(['calls', 'list', '--json', '--status', 'ringing'], numberEnv)).slice(0, 2), [
      older.id,
      ringing.id,
    ]);
    assert.deepEqual(ids(await runCli(['calls', 'list', '--json', '--status', 'COMPLETED'], numberEnv)), []);
    assert.deepEqual(ids(await runCli(['calls', 'list', '--json', '--peer', `+${ringingPeer.slice(-8)}`], numberEnv)), [
      ringing.id,
    ]);
    assert.deepEqual(ids(await runCli(['calls', 'list', '--json', '--since', '10m', '--limit', '1'], numberEnv)), [
      older.id,
    ]);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    assert.deepEqual(ids(await runCli(['calls', 'list', '--json', '--since', future], numberEnv)), []);
    const filteredTable = await runCli(['calls', 'list', '--status', 'RINGING', '--limit', '1'], numberEnv);
    assert.match(
      filteredTable.stdout,
      new RegExp(`More: callgate calls list --before ${older.id} --limit 1 --status RINGING`),
    );

    const page = json(await runCli(['calls', 'list', '--json', '--limit', '1'], numberEnv));
    assert.deepEqual(
      page.calls.map((c: { id: string }) => c.id),
      [older.id],
    );
    assert.equal(page.nextBefore, older.id, 'the exact cursor: a createdAt skips calls of the same millisecond');
    const all = json(await runCli(['calls', 'list', '--json', '--all', '--limit', '1'], numberEnv));
    assert.deepEqual(
      all.calls.map((c: { id: string }) => c.id),
      [older.id, ringing.id],
    );

    const table = await runCli(['calls', 'list', '--limit', '1'], numberEnv);
    assert.match(table.stdout, /^ID\s+DIRECTION\s+STATUS\s+PEER\s+STARTED\s+DURATION\s+ENDED BY\n/);
    assert.match(table.stdout, new RegExp(`${older.id}\\s+INBOUND\\s+RINGING`));
    assert.match(table.stdout, new RegExp(`More: callgate calls list --before ${older.id} --limit 1 \\(or --all\\)`));
    // Run as printed, it gives the next call.
    const next = json(await runCli(['calls', 'list', '--json', '--before', older.id, '--limit', '1'], numberEnv));
    assert.deepEqual(
      next.calls.map((c: { id: string }) => c.id),
      [ringing.id],
    );
    // A time as --since takes it (a date alone included): sent as the full ISO time the API wants.
    const beforeDate = json(await runCli(['calls', 'list', '--json', '--before', '2000-01-01'], numberEnv));
    assert.deepEqual(beforeDate.calls, []);
    // An ISO time goes as typed: digits past the millisecond count on the server (a call of .mmm is before .mmm1).
    const justAfter = `${(page.calls[0].createdAt as string).slice(0, -1)}1Z`;
    const beforeFine = json(await runCli(['calls', 'list', '--json', '--before', justAfter], numberEnv));
    assert.ok(
      beforeFine.calls.some((c: { id: string }) => c.id === older.id),
      `--before ${justAfter} lists the call created at ${page.calls[0].createdAt}`,
    );

    const byWacid = json(await runCli(['calls', 'get', ringing.externalCallId, '--sdp', '--json'], numberEnv));
    assert.equal(byWacid.id, ringing.id);
    assert.match(byWacid.sdpOffer, /^v=0/);
    const record = await runCli(['calls', 'get', ringing.id], numberEnv);
    assert.match(record.stdout, /^id:\s+call_/m);
    assert.match(record.stdout, /^status:\s+RINGING$/m);

    const ended = await runCli(['calls', 'terminate', ringing.id], numberEnv);
    assert.equal(ended.stdout, `${ringing.id} COMPLETED\n`);
    const again = json(await runCli(['calls', 'terminate', ringing.id, '--json'], numberEnv));
    assert.deepEqual(again, { success: true, id: ringing.id, status: 'COMPLETED', alreadyEnded: true });
    const timeline = json(await runCli(['calls', 'events', ringing.id, '--json'], numberEnv)).events;
    assert.deepEqual(
      timeline.slice(0, 2).map((e: { type: string }) => e.type),
      ['offer', 'terminate'],
    );
    // Declined rather than hung up: the ringing call ends REJECTED, and a second decline is a state conflict.
    const declined = await runCli(['calls', 'reject', older.id], numberEnv);
    assert.equal(declined.stdout, `${older.id} REJECTED\n`, declined.stderr);
    const rejectedAgain = await runCli(['calls', 'reject', older.id, '--json'], numberEnv);
    assert.equal(rejectedAgain.code, 1);
    assert.equal(JSON.parse(rejectedAgain.stderr).code, 'CALL_STATE_CONFLICT');

    const missing = await runCli(['calls', 'get', 'call_nope', '--json'], numberEnv);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    const error = JSON.parse(missing.stderr);
    assert.equal(error.code, 'CALL_NOT_FOUND');
    assert.equal(error.status, 404);
    assert.match(error.requestId, /^req_/);
  });

  test('calls watch prints each event as a line (NDJSON with --json) until Ctrl-C', async () => {
    const watch = startCli(['calls', 'watch', '--json'], numberEnv);
    const human = startCli(['calls', 'watch'], numberEnv);
    try {
      // Connected when it says so on stderr; then every event of a call is a line.
      await waitFor(
        () => watch.stderr().includes('Watching call events') && human.stderr().includes('Watching call events'),
      );
      const call = await live.incomingCall(0, numberEnv.CALLGATE_API_KEY!);
      await runCli(['calls', 'terminate', call.id], numberEnv);
      const endedLine = await watch.waitForLine((l) => l.includes('call.ended') && l.includes(call.id));
      const ended = JSON.parse(endedLine);
      assert.equal(ended.event, 'call.ended');
      assert.equal(ended.data.id, call.id);
      assert.match(ended.id, /^\d+$/);
      assert.deepEqual(
        watch.lines.map((l) => JSON.parse(l).event),
        ['call.ringing', 'call.ended'],
      );
      const line = await human.waitForLine((l) => l.includes('call.ended'));
      assert.match(
        line,
        new RegExp(
          `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+call\\.ended\\s+${call.id}\\s+COMPLETED\\s+-\\s+\\d+$`,
        ),
      );
      // Columns line up under the header, whatever the event's or status's length.
      const header = human.lines[0]!;
      assert.match(header, /^TIME\s+EVENT\s+CALL\s+STATUS\s+DURATION\s+PEER$/);
      const ringing = await human.waitForLine((l) => l.includes('call.ringing'));
      for (const column of ['EVENT', 'CALL', 'STATUS', 'DURATION', 'PEER']) {
        const at = header.indexOf(column);
        assert.notEqual(line[at - 1], undefined);
        assert.match(line.slice(at - 2, at), /^ {2}$/, `${column} starts after two spaces in the ended line`);
        assert.match(ringing.slice(at - 2, at), /^ {2}$/, `${column} starts after two spaces in the ringing line`);
        assert.notEqual(line[at], ' ', `${column} has a value in the ended line`);
      }
    } finally {
      assert.equal(await watch.stop('SIGINT'), 0);
      assert.equal(await human.stop('SIGTERM'), 0);
    }
  });

  test('webhooks create/list/get/update/logs/replay/rotate-secret/delete', async () => {
    const created = json(
      await runCli(
        ['webhooks', 'create', receiver.url, '--events', 'call.ringing', '--name', 'ring', '--json'],
        numberEnv,
      ),
    );
    assert.match(created.secret, /^whsec_/);
    // Without --events the CLI subscribes to everything (its help says so): the API alone would send nothing.
    const everything = json(await runCli(['webhooks', 'create', receiver.url, '--json'], numberEnv));
    assert.deepEqual(everything.events, ['*']);
    assert.equal((await runCli(['webhooks', 'delete', everything.id], numberEnv)).code, 0);
    // Refusals in the CLI's words: flags, not body fields.
    const viaTenant = await runCli(['webhooks', 'create', receiver.url, '--json'], tenantEnv);
    assert.equal(viaTenant.code, 2);
    assert.equal(
      viaTenant.stderr,
      'callgate: a tenant key must name the number: --number <numberId> (callgate numbers list)\n',
    );
    const badUrl = await runCli(['webhooks', 'create', 'ftp://example.com/h'], numberEnv);
    assert.equal(badUrl.code, 2);
    assert.match(
      badUrl.stderr,
      /the server refused the webhook \(request req_\w+\):\n {2}<endpointUrl> \(or --endpoint\): /,
    );
    const badName = await runCli(['webhooks', 'update', created.id, '--name', 'x'.repeat(201)], numberEnv);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /\n {2}--name: must NOT have more than 200 characters/);

    const table = await runCli(['webhooks', 'list'], tenantEnv);
    assert.match(
      table.stdout,
      new RegExp(
        `${created.id}\\s+${numberId}\\s+yes\\s+call\\.ringing\\s+ring\\s+${receiver.url.replace(/[.]/g, '\\.')}`,
      ),
    );
    assert.equal(json(await runCli(['webhooks', 'get', created.id, '--json'], numberEnv)).secret, undefined);

    const paused = json(
      await runCli(
        ['webhooks', 'update', created.id, '--active', 'false', '--events', 'call.ringing,call.ended', '--json'],
        numberEnv,
      ),
    );
    assert.equal(paused.active, false);
    assert.deepEqual(paused.events, ['call.ringing', 'call.ended']);
    json(await runCli(['webhooks', 'update', created.id, '--active', 'true', '--json'], numberEnv));

    const call = await live.incomingCall(0, numberEnv.CALLGATE_API_KEY!);
    await receiver.waitFor((rs) => rs.some((r) => r.body?.id === call.id), 5000);
    const logs = json(
      await runCli(['webhooks', 'logs', created.id, '--event', 'call.ringing', '--limit', '5', '--json'], numberEnv),
    ).logs;
    assert.equal(logs[0].status, 'SUCCESS');
    assert.equal(logs[0].response, 'ok');
    assert.equal(logs[0].nextAttemptAt, null, 'delivered: no retry due');
    const logTable = await runCli(['webhooks', 'logs', created.id], numberEnv);
    assert.match(
      logTable.stdout,
      /^TIME\s+EVENT\s+EVENT ID\s+ATTEMPT\s+RESULT\s+HTTP\s+MS\s+NEXT RETRY\s+ERROR\s+RESPONSE\n/,
    );
    assert.match(logTable.stdout, /SUCCESS\s+200\s+\d+\s+-\s+-\s+ok\n/);
    const logRecords = await runCli(['webhooks', 'logs', created.id, '--body', '--limit', '1'], numberEnv);
    assert.match(logRecords.stdout, /^next retry:\s+-$/m);
    assert.match(logRecords.stdout, /^response:\s+\nok$/m);
    const replay = await runCli(['webhooks', 'replay', created.id, logs[0].eventId], numberEnv);
    assert.equal(replay.stdout, `Queued call.ringing ${logs[0].eventId} for ${created.id} again\n`);

    const rotated = json(await runCli(['webhooks', 'rotate-secret', created.id, '--json'], numberEnv));
    assert.notEqual(rotated.secret, created.secret);
    assert.deepEqual(json(await runCli(['webhooks', 'delete', created.id, '--json'], numberEnv)), {
      id: created.id,
      deleted: true,
    });
    await runCli(['calls', 'terminate', call.id], numberEnv);
  });

  test('--url and --key beat the environment; --key-id authenticates by key id', async () => {
    const flags = await runCli(['numbers', 'list', '--json', '--url', live.url, '--key', live.tenantKey.key], {
      CALLGATE_URL: 'http://127.0.0.1:1',
      CALLGATE_API_KEY: 'ps_wrong',
    });
    assert.equal(json(flags).length, 1);
    const byId = await runCli(['numbers', 'list', '--json', '--url', live.url, '--key-id', live.tenantKey.id], {});
    assert.equal(json(byId).length, 1);
  });

  test('exit codes: 0 for help, 2 for usage mistakes, 1 for failures; a server that is down is named', async () => {
    const help = await runCli(['calls', '--help'], {});
    assert.equal(help.code, 0);
    assert.match(help.stdout, /calls list/);
    const top = await runCli([], {});
    assert.equal(top.code, 0);
    assert.match(top.stdout, /listen --forward-to/);
    assert.equal((await runCli(['calls', 'fly'], numberEnv)).code, 2);
    assert.equal((await runCli(['calls', 'get'], numberEnv)).code, 2);
    assert.equal((await runCli(['calls', 'list', '--bogus'], numberEnv)).code, 2);
    const noKey = await runCli(['calls', 'list'], { CALLGATE_URL: live.url });
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /API key/);
    const closed = await closedPort();
    const down = await runCli(['calls', 'list'], {
      CALLGATE_URL: `http://127.0.0.1:${closed}`,
      CALLGATE_API_KEY: 'ps_x',
    });
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      new RegExp(`^callgate: NETWORK_ERROR: Could not reach http://127\\.0\\.0\\.1:${closed}: .*ECONNREFUSED`),
    );
  });

  test('calls play with a file path instead of a URL is a usage error that says what to pass', async () => {
    // No server at all: the CLI must refuse before asking one (it used to print the API's schema errors).
    const r = await runCli(['calls', 'play', 'call_01JD0000000000000000000000', '/tmp/hello.wav'], {
      CALLGATE_URL: `http://127.0.0.1:${await closedPort()}`,
      CALLGATE_API_KEY: 'ps_x',
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /<mediaUrl> is a URL the server fetches/);
    assert.match(r.stderr, /"\/tmp\/hello\.wav"/);
  });

  test('simulate call fails at once, exit 1, when the server is down (it used to wait forever)', {
    timeout: 20_000,
  }, async () => {
    const closed = await closedPort();
    const started = Date.now();
    const down = await runCli(['simulate', 'call'], {
      CALLGATE_URL: `http://127.0.0.1:${closed}`,
      CALLGATE_API_KEY: 'ps_x',
    });
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      /^callgate: NETWORK_ERROR: Could not reach http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.*\n$/,
    );
    assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
  });

  test('calls list sends --status (one or several) and --peer to the API rather than reading every call', async () => {
    const urls: string[] = [];
    const fake = createHttpServer((req, res) => {
      urls.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end('{"calls":[]}');
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
      const res = await runCli(
        ['calls', 'list', '--json', '--status', 'ringing', '--peer', '+5511', '--url', url, '--key', 'ps_x'],
        {},
      );
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(json(res).calls, []);
      assert.equal(urls.length, 1);
      const query = new URL(urls[0]!, url).searchParams;
      assert.equal(query.get('status'), 'RINGING');
      assert.equal(query.get('peer'), '5511');
      // Several statuses, as the API's status=A,B takes them.
      const several = await runCli(
        ['calls', 'list', '--json', '--status', 'ringing,ACCEPTED', '--url', url, '--key', 'ps_x'],
        {},
      );
      assert.equal(several.code, 0, several.stderr);
      assert.equal(new URL(urls[1]!, url).searchParams.get('status'), 'RINGING,ACCEPTED');
      const typo = await runCli(['calls', 'list', '--status', 'RINGING,ACEPTED', '--url', url, '--key', 'ps_x'], {});
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /--status: unknown status "ACEPTED"; did you mean "ACCEPTED"\?/);
      assert.equal(urls.length, 2, 'a typo sends nothing');
    } finally {
      await new Promise((resolve) => fake.close(resolve));
    }
  });

  test('the admin commands keep working on the store directly', async () => {
    const { stdout } = await callgateCli(['tenants', 'create', '--name', 'Second'], live.env);
    const tenant = JSON.parse(stdout);
    const listed = json(
      await runCli(['numbers', 'list', '--json'], { CALLGATE_URL: live.url, CALLGATE_API_KEY: tenant.apiKey.key }),
    );
    assert.deepEqual(listed, [], "a new tenant sees none of the first one's numbers");
    const migrate = await runCli(['migrate'], live.env);
    assert.equal(migrate.code, 0);
    assert.match(migrate.stderr, /up to date/);
  });

  test('tenants rotate-key: a leaked tenant key stops working, the new one works, numbers keep theirs', async () => {
    const tenant = JSON.parse((await callgateCli(['tenants', 'create', '--name', 'Leaky'], live.env)).stdout);
    const numbers = (key: string) =>
      fetch(`${live.url}/v1/numbers`, { headers: { 'x-api-key': key } }).then((r) => r.status);
    const byId = (id: string) =>
      fetch(`${live.url}/v1/numbers`, { headers: { 'x-api-key-id': id } }).then((r) => r.status);
    assert.equal(await numbers(tenant.apiKey.key), 200);
    const created = await fetch(`${live.url}/v1/numbers`, {
      method: 'POST',
      headers: { 'x-api-key': tenant.apiKey.key, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Kept', provider: 'SANDBOX' }),
    }).then((r) => r.json());
    const calls = (key: string) =>
      fetch(`${live.url}/v1/calls`, { headers: { 'x-api-key': key } }).then((r) => r.status);

    const rotated = await runCli(['tenants', 'rotate-key', '--tenant', tenant.tenantId], live.env);
    assert.equal(rotated.code, 0, rotated.stderr);
    const fresh = JSON.parse(rotated.stdout);
    assert.equal(fresh.tenantId, tenant.tenantId);
    assert.match(fresh.apiKey.key, /^ps_/);
    assert.equal(await numbers(tenant.apiKey.key), 401, 'the old secret is refused');
    assert.equal(await byId(tenant.apiKey.id), 401, 'and so is the old key id');
    assert.equal(await numbers(fresh.apiKey.key), 200);
    assert.equal(await numbers(live.tenantKey.key), 200, "another tenant's key is untouched");
    assert.equal(await calls(created.apiKey.key), 200, "the tenant's number keys are untouched");

    const unknown = await runCli(['tenants', 'rotate-key', '--tenant', 'tenant_nope'], live.env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /callgate: no tenant tenant_nope in this store\n$/);
    const missing = await runCli(['tenants', 'rotate-key'], live.env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /tenants rotate-key needs --tenant/);
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error('timed out');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
