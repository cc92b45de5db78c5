// `callgate simulate call` as a child process against a server process: the call rings, is answered by a werift
// peer (ICE on 127.0.0.1), the caller plays a local WAV, hangs up by itself, and the command follows it to the end.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CliProcess, runCli, startCli } from '../../test/helpers/cli-process.ts';
import { type LiveServer, startLiveServer } from '../../test/helpers/live-server.ts';
import { tone } from '../media/audio/tone.ts';
import { writeWav } from '../media/audio/wav.ts';
import { AudioEndpoint } from '../media/rtc/audio-endpoint.ts';
import { createPeerFactory, LOOPBACK_ICE } from '../media/rtc/peer-factory.ts';

describe('callgate simulate call', () => {
  let live: LiveServer;
  let env: Record<string, string>;
  let key: string;
  let numberId: string;
  const dir = mkdtempSync(join(tmpdir(), 'callgate-simulate-'));
  const business = new AudioEndpoint(createPeerFactory(LOOPBACK_ICE));

  before(async () => {
    live = await startLiveServer({ env: { SANDBOX_MEDIA_ADDRESSES: '127.0.0.1' } });
    // As the README's first run does it: the CLI, a tenant key, no phone number.
    const res = await runCli(['numbers', 'create', '--json', '--name', 'First run', '--provider', 'sandbox'], {
      CALLGATE_URL: live.url,
      CALLGATE_API_KEY: live.tenantKey.key,
    });
    assert.equal(res.code, 0, res.stderr);
    const created = JSON.parse(res.stdout) as {
      number: { id: string; phoneNumber: string; sandbox: boolean };
      apiKey: { key: string };
    };
    assert.match(created.number.phoneNumber, /^\+99\d{10}$/);
    assert.equal(created.number.sandbox, true);
    key = created.apiKey.key;
    numberId = created.number.id;
    env = { CALLGATE_URL: live.url, CALLGATE_API_KEY: key };
  });
  after(async () => {
    await business.close();
    await live.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('rings with a WAV caller, follows the call to call.ended after --hangup-after', {
    timeout: 60_000,
  }, async () => {
    const wavPath = join(dir, 'caller.wav');
    writeFileSync(wavPath, writeWav({ sampleRate: 16_000, samples: tone(600, 1, 16_000) }));
    // Named as typed in the folder `npm run callgate` was run from (npm runs the CLI in the package's folder).
    const cli = startCli(['simulate', 'call', '--json', '--audio', 'caller.wav', '--hangup-after', '1'], {
      ...env,
      INIT_CWD: dir,
    });
    const first = JSON.parse(await cli.waitForLine((l) => l.includes('"call"'), 15_000, 'the call'));
    assert.equal(first.call.status, 'RINGING');
    const id: string = first.call.id;

    const get = await fetch(`${live.url}/v1/calls/${id}?includeSdp=1`, {
      headers: { 'x-api-key': key },
    });
    const offer = ((await get.json()) as { sdpOffer: string }).sdpOffer;
    const answer = await business.acceptOffer(offer);
    const accepted = await fetch(`${live.url}/v1/calls/${id}/accept`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ sdp: answer }),
    });
    assert.equal(accepted.status, 200);
    await business.connected();

    const ended = JSON.parse(await cli.waitForLine((l) => l.includes('call.ended'), 15_000, 'call.ended'));
    assert.equal(ended.data.id, id);
    assert.equal(ended.data.status, 'COMPLETED');
    assert.equal(ended.data.endedBy, 'PEER');
    assert.ok(cli.lines.some((l) => l.includes('call.connected')));
    assert.equal(business.stats().packetsReceived > 0, true);
    // What the business heard while the call was up was the WAV's 600 Hz.
    assert.equal(business.heard().frequencyHz, 600);
    // The command returns by itself once the call has ended.
    const code = await new Promise((resolve, reject) => {
      if (cli.child.exitCode !== null) {
        resolve(cli.child.exitCode);
        return;
      }
      const timer = setTimeout(() => reject(new Error('simulate call did not exit after call.ended')), 5000);
      cli.child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, cli.stderr());
  });

  test('the table output names the dashboard by its full address, so it can be opened as printed', {
    timeout: 30_000,
  }, async () => {
    const cli = startCli(['simulate', 'call'], env);
    const ringing = await cli.waitForLine((l) => l.includes('RINGING from'), 15_000, 'the call');
    const id = ringing.split(' ')[0];
    const hint = await cli.waitForLine((l) => l.startsWith('Answer it'), 5000, 'the hint');
    assert.ok(hint.includes(`(${live.url}/dashboard,`), hint);
    const ended = await fetch(`${live.url}/v1/calls/${id}/reject`, { method: 'POST', headers: { 'x-api-key': key } });
    assert.equal(ended.status, 200);
    await cli.waitForLine((l) => l.includes('call.ended'), 15_000, 'call.ended');
    // It returns by itself once the call has ended.
    if (cli.child.exitCode === null) {
      await new Promise((resolve) => cli.child.once('exit', resolve));
    }
    assert.equal(cli.child.exitCode, 0, cli.stderr());
  });

  test('Ctrl-C stops following the call, says it goes on and how to end it', { timeout: 30_000 }, async () => {
    const cli = startCli(['simulate', 'call'], env);
    const id = (await cli.waitForLine((l) => l.includes('RINGING from'), 15_000, 'the call')).split(' ')[0];
    await cli.waitForLine((l) => l.includes('call.ringing'), 15_000, 'call.ringing');
    assert.equal(await cli.stop('SIGINT'), 0, cli.stderr());
    assert.match(
      cli.stderr(),
      new RegExp(`Stopped following ${id}; the call goes on\\. End it: callgate calls terminate ${id}\\n`),
    );
    const ended = await fetch(`${live.url}/v1/calls/${id}/terminate`, {
      method: 'POST',
      headers: { 'x-api-key': key },
    });
    assert.equal(((await ended.json()) as { alreadyEnded?: boolean }).alreadyEnded, undefined, 'it was still up');
  });

  /** Answers the call with server media, so callgate hears the caller's keys (call.dtmf events). */
  async function acceptWithServerMedia(id: string): Promise<void> {
    const accepted = await fetch(`${live.url}/v1/calls/${id}/accept`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(accepted.status, 200, await accepted.text());
  }
  const keyLines = (lines: string[], id: string) =>
    lines
      .map((l) => JSON.parse(l))
      .filter((e) => e.event === 'call.dtmf' && e.data.callId === id)
      .map((e) => e.data.digit as string);
  async function hangUpAndExit(cli: CliProcess, id: string): Promise<void> {
    const ended = await fetch(`${live.url}/v1/calls/${id}/terminate`, {
      method: 'POST',
      headers: { 'x-api-key': key },
    });
    assert.equal(ended.status, 200);
    await cli.waitForLine((l) => l.includes('call.ended'), 15_000, 'call.ended');
    if (cli.child.exitCode === null) {
      await new Promise((resolve) => cli.child.once('exit', resolve));
    }
    assert.equal(cli.child.exitCode, 0, cli.stderr());
  }

  test('--press: the caller presses the keys once answered, a comma waits; the call shows them as call.dtmf', {
    timeout: 60_000,
  }, async () => {
    const cli = startCli(['simulate', 'call', '--json', '--audio', 'silence', '--press', '1,#'], env);
    const id: string = JSON.parse(await cli.waitForLine((l) => l.includes('"call"'), 15_000, 'the call')).call.id;
    await acceptWithServerMedia(id);
    await cli.waitForLine((l) => keyLines([l], id)[0] === '#', 15_000, 'the # key');
    assert.deepEqual(keyLines(cli.lines, id), ['1', '#']);
    assert.match(cli.stderr(), /^Pressed 1\nPressed #\n$/m);
    await hangUpAndExit(cli, id);
  });

  test('--keypad: each line typed is pressed; a line that is not keys is said and skipped', {
    timeout: 60_000,
  }, async () => {
    const cli = startCli(['simulate', 'call', '--json', '--audio', 'silence', '--keypad'], env, { stdin: true });
    const id: string = JSON.parse(await cli.waitForLine((l) => l.includes('"call"'), 15_000, 'the call')).call.id;
    cli.child.stdin!.write('9\n'); // before the answer: not read yet, pressed once the call is connected
    await acceptWithServerMedia(id);
    await cli.waitForLine((l) => keyLines([l], id)[0] === '9', 15_000, 'the 9 key');
    cli.child.stdin!.write('hello\n4 2\n');
    await cli.waitForLine((l) => keyLines([l], id)[0] === '2', 15_000, 'the 2 key');
    assert.deepEqual(keyLines(cli.lines, id), ['9', '4', '2']);
    assert.ok(cli.stderr().includes('Not keys: "hello"'), cli.stderr());
    // The pipe stays open: the command still returns once the call has ended.
    await hangUpAndExit(cli, id);
  });

  test('numbers get shows how the simulated users behave and whether calls are recorded', async () => {
    const tenantEnv = { CALLGATE_URL: live.url, CALLGATE_API_KEY: live.tenantKey.key };
    const before = await runCli(['numbers', 'get', numberId], tenantEnv);
    assert.equal(before.code, 0, before.stderr);
    assert.match(
      before.stdout,
      /^sandbox users: +answer accept after 2 s, say echo, never hang up; permission requests: accept$/m,
    );
    assert.match(before.stdout, /^record calls: +no$/m);
    const patched = await fetch(`${live.url}/v1/numbers/${numberId}`, {
      method: 'PATCH',
      headers: { 'x-api-key': live.tenantKey.key, 'content-type': 'application/json' },
      body: JSON.stringify({ recordCalls: true }),
    });
    assert.equal(patched.status, 200, await patched.text());
    const after = await runCli(['numbers', 'get', numberId], tenantEnv);
    assert.match(after.stdout, /^record calls: +yes/m);
  });

  test('usage mistakes exit 2 with a clear message', async () => {
    const bad = await runCli(['simulate', 'call', '--hangup-after', 'soon'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--hangup-after is a whole number/);
    const notKeys = await runCli(['simulate', 'call', '--press', '1x'], env);
    assert.equal(notKeys.code, 2);
    assert.match(notKeys.stderr, /--press takes keys 0-9/);
    const noWait = await runCli(['simulate', 'call', '--keypad', '--no-wait'], env);
    assert.equal(noWait.code, 2);
    assert.match(noWait.stderr, /not with --no-wait/);
    const missing = await runCli(['simulate', 'call', '--audio', join(dir, 'nope.wav')], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read/);
  });

  test('a local WAV is taken up to what the request can carry, and refused by name beyond', {
    timeout: 30_000,
  }, async () => {
    // 16-bit mono after a 44-byte header: the largest WAV whose data: URL the API takes, then one sample more.
    const largest = 524_982;
    const fits = join(dir, 'fits.wav');
    writeFileSync(fits, writeWav({ sampleRate: 16_000, samples: tone(500, (largest - 44) / 2 / 16_000, 16_000) }));
    const taken = await runCli(['simulate', 'call', '--json', '--no-wait', '--audio', fits], env);
    assert.equal(taken.code, 0, taken.stderr);
    const id: string = JSON.parse(taken.stdout).call.id;
    const rejected = await fetch(`${live.url}/v1/calls/${id}/reject`, {
      method: 'POST',
      headers: { 'x-api-key': key },
    });
    assert.equal(rejected.status, 200);

    const over = join(dir, 'over.wav');
    writeFileSync(over, writeWav({ sampleRate: 16_000, samples: tone(500, (largest - 42) / 2 / 16_000, 16_000) }));
    const refused = await runCli(['simulate', 'call', '--no-wait', '--audio', over], env);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /over\.wav is over 524982 bytes; use a shorter clip or an https URL/);
  });
});
