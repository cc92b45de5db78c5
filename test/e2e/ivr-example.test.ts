// examples/ivr, run as its README says against a real server with a sandbox number: a simulated caller rings, the
// example answers with server media and plays its menu; the caller hears it, presses 1 and hears the second
// prompt, presses 2 and hears itself, presses # and the call ends with one call.ended. Pitches are what the
// simulated caller heard (GET /v1/sandbox/calls/{id}).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type TestContext, test } from 'node:test';
import { Callgate, type StreamEvent } from '../../packages/sdk/src/index.ts';
import { eventually } from '../helpers/build-test-app.ts';
import { callgateCli } from '../helpers/live-server.ts';
import { startMediaServer } from '../helpers/sandbox-process.ts';
import { assertPitchesNear, recordedPitches } from '../helpers/server-media.ts';
import { createTestStore } from '../helpers/stores.ts';

const ROOT = join(import.meta.dirname, '../..');
const MENU_HZ = 440; // examples/ivr/ivr.ts
const SECOND_HZ = 660;
const CALLER_HZ = 330; // what the simulated caller says, echoed back after 2

/** A server on the embedded store, and a sandbox number made as the README makes it: a tenant, then the number. */
async function serverWithSandboxNumber(t: TestContext, allowInsecureUrls: 'true' | 'false') {
  const store = await createTestStore('sqlite');
  const { server, recordings } = await startMediaServer(store, { WEBHOOK_ALLOW_INSECURE_URLS: allowInsecureUrls });
  t.after(async () => {
    await server.stop('SIGKILL');
    await store.dispose();
    rmSync(recordings, { recursive: true, force: true });
  });
  const cliEnv = { ...store.env, CALLGATE_URL: server.url };
  const tenant = JSON.parse((await callgateCli(['tenants', 'create', '--name', 'Acme'], cliEnv)).stdout);
  const created = JSON.parse(
    (
      await callgateCli(['numbers', 'create', '--name', 'IVR', '--provider', 'SANDBOX', '--json'], {
        ...cliEnv,
        CALLGATE_API_KEY: tenant.apiKey.key,
      })
    ).stdout,
  );
  return { server, apiKey: created.apiKey.key as string };
}

test('examples/ivr answers a sandbox call, plays its menu, follows keys 1, 2 and #', async (t) => {
  // The example is on loopback: its webhook and prompt URLs are http://127.0.0.1 (the README's start line).
  const { server, apiKey } = await serverWithSandboxNumber(t, 'true');
  const callgate = new Callgate({ baseUrl: server.url, apiKey });

  // As the README starts it: `npm run` puts the repository's Node 24 first on PATH.
  const example = spawn('npm', ['run', '--silent', 'example:ivr'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      CALLGATE_URL: server.url,
      CALLGATE_API_KEY: apiKey,
      PORT: '0',
      RECORD: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: a failed test kills npm and the node under it
  });
  const exited = new Promise<number | null>((resolve) => example.once('exit', resolve));
  t.after(() => {
    if (example.pid !== undefined && example.exitCode === null && example.signalCode === null) {
      process.kill(-example.pid, 'SIGKILL');
    }
  });
  const output: string[] = [];
  for (const stream of [example.stdout, example.stderr]) {
    createInterface({ input: stream }).on('line', (line) => output.push(line));
  }
  const said = (pattern: RegExp) =>
    eventually(async () => output.find((l) => pattern.test(l)), 15_000, `the example to log ${pattern}\n${output}`);
  const listening = /IVR listening on (\S+)\/webhooks \(webhook (whk_\w+)\)/.exec(await said(/IVR listening on/));
  assert.ok(listening);
  const [, exampleUrl, webhookId] = listening;

  // It checks signatures: a webhook without a valid one is refused, and nothing is done with it.
  const forged = await fetch(`${exampleUrl}/webhooks`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': 'msg_forged',
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')}`,
    },
    body: JSON.stringify({ event: 'call.ringing', eventId: 'evt_forged', id: 'call_forged' }),
  });
  assert.equal(forged.status, 401);

  // Every event of the number, to count the call's call.ended once it is all over.
  const events: StreamEvent[] = [];
  let opened: () => void = () => undefined;
  const open = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const live = callgate.events.stream({ onOpen: () => opened() });
  t.after(() => live.close());
  (async () => {
    for await (const e of live) {
      events.push(e);
    }
  })().catch(() => undefined);
  await open;

  const { call } = await callgate.sandbox.calls.create({ from: '+15550000042', audio: `tone:${CALLER_HZ}` });
  const hears = (hz: number, what: string) =>
    eventually(
      async () => {
        const heard = (await callgate.sandbox.calls.get(call.id)).heard.frequencyHz;
        return heard !== null && Math.abs(heard - hz) <= hz * 0.01;
      },
      15_000,
      `the caller to hear ${what} (${hz} Hz)`,
    );

  await hears(MENU_HZ, 'the menu');
  await callgate.sandbox.calls.pressKeys(call.id, '1');
  await hears(SECOND_HZ, 'the second prompt');
  await callgate.sandbox.calls.pressKeys(call.id, '2');
  await hears(CALLER_HZ, 'its own voice echoed');
  await callgate.sandbox.calls.pressKeys(call.id, '#');
  await said(new RegExp(`${call.id} ended: COMPLETED by BUSINESS`));

  const ended = await callgate.calls.get(call.id);
  assert.equal(ended.status, 'COMPLETED');
  assert.equal(ended.endedBy, 'BUSINESS');

  // RECORD=true: a stereo recording, the caller on the left, the IVR's side (never silent here) on the right.
  await eventually(
    async () => (await callgate.calls.get(call.id)).recording?.status === 'ready',
    15_000,
    'the recording',
  );
  const [caller, ivr] = await recordedPitches(await callgate.calls.recording(call.id));
  // Within 3 %: the example runs beside the server and the caller on two loaded CPUs, and a second of its recording
  // then holds more concealed frames (334 Hz was seen for 330); the other tones of the call are 440 and 660 Hz.
  assertPitchesNear([caller], [CALLER_HZ], 0.03);
  assert.notEqual(ivr, null, 'the IVR side was recorded');

  // Stopped with Ctrl-C, it removes the webhook it registered. A terminal's Ctrl-C signals the whole group, and npm
  // forwards its own copy: the example gets SIGINT twice, and the second one killed it mid-stop, its webhook left.
  // Sent twice here, so the second always lands while the first is being handled.
  if (example.pid !== undefined) {
    process.kill(-example.pid, 'SIGINT');
    process.kill(-example.pid, 'SIGINT');
  }
  assert.equal(await exited, 0, output.join('\n'));
  assert.ok(output.includes('IVR stopped'), output.join('\n'));
  assert.deepEqual(
    (await callgate.webhooks.list()).map((w) => w.id),
    [],
    `webhook ${webhookId} removed`,
  );
  await eventually(
    async () => events.some((e) => e.event === 'call.recording_ready'),
    15_000,
    "the stream's last event",
  );
  const ofCall = events.filter((e) => ('callId' in e.data ? e.data.callId : e.data.id) === call.id);
  assert.deepEqual(
    ofCall.map((e) => (e.event === 'call.dtmf' ? `key ${e.data.digit}` : e.event)),
    ['call.ringing', 'call.connected', 'key 1', 'key 2', 'key #', 'call.ended', 'call.recording_ready'],
  );
  assert.deepEqual(
    output.filter((l) => / ended: /.test(l)),
    [output.find((l) => l.includes(`${call.id} ended: COMPLETED by BUSINESS`))],
    'the example saw one call.ended',
  );
});

test('examples/ivr says in one line why callgate refused its webhook, and exits 1', async (t) => {
  // Started as plain `npm start`: http://127.0.0.1 webhooks are refused.
  const { server, apiKey } = await serverWithSandboxNumber(t, 'false');
  const example = spawn(process.execPath, [join(ROOT, 'examples/ivr/ivr.ts')], {
    env: { PATH: process.env.PATH ?? '', CALLGATE_URL: server.url, CALLGATE_API_KEY: apiKey, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  example.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => example.once('close', resolve));
  assert.equal(code, 1, stderr);
  assert.match(
    stderr,
    /^Could not register the webhook http:\/\/127\.0\.0\.1:\d+\/webhooks with callgate at \S+: Validation error: .*WEBHOOK_ALLOW_INSECURE_URLS=true.*\n$/,
  );
});

test('examples/ivr says in one line that its PORT is taken, and exits 1', async (t) => {
  const { createServer } = await import('node:net');
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, resolve));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const example = spawn(process.execPath, [join(ROOT, 'examples/ivr/ivr.ts')], {
    env: {
      PATH: process.env.PATH ?? '',
      CALLGATE_URL: 'http://127.0.0.1:9',
      CALLGATE_API_KEY: 'ps_unused',
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  example.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => example.once('close', resolve));
  assert.equal(code, 1, stderr);
  assert.equal(stderr, `Cannot listen on PORT=${port} (EADDRINUSE): set PORT to a free port\n`);
});
