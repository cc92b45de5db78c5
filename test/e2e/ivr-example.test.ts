// examples/ivr, run as its README says against a real server with a sandbox number: a simulated caller rings, the
// example answers with server media and plays its menu; the caller hears it, presses 1 and hears the second
// prompt, presses 2 and hears itself, presses # and the call ends with one call.ended; a caller who presses nothing
// hears the menu again, twice, then a goodbye, and is hung up on. Pitches are what the simulated caller heard
// (GET /v1/sandbox/calls/{id}).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Callgate, type StreamEvent } from '../../packages/sdk/src/index.ts';
import { eventually } from '../helpers/build-test-app.ts';
import { callgateCli } from '../helpers/live-server.ts';
import { startMediaServer } from '../helpers/sandbox-process.ts';
import { assertPitchesNear, recordedPitches } from '../helpers/server-media.ts';
import { createTestStore } from '../helpers/stores.ts';

const ROOT = join(import.meta.dirname, '../..');
const MENU_HZ = 440; // examples/ivr/ivr.ts
const SECOND_HZ = 660;
const GOODBYE_HZ = 880;
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

/** The example started as the README starts it (`npm run` puts the repository's Node 24 first on PATH), and its log. */
async function startExample(t: TestContext, env: Record<string, string>) {
  const example = spawn('npm', ['run', '--silent', 'example:ivr'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
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
  const [, exampleUrl = '', webhookId = ''] = listening;
  return { example, exited, output, said, exampleUrl, webhookId };
}

/** Every event of the number from now on, to count a call's call.ended once it is all over. */
async function streamEvents(t: TestContext, callgate: Callgate): Promise<StreamEvent[]> {
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
  return events;
}

const ofCall = (events: StreamEvent[], callId: string) =>
  events
    .filter((e) => ('callId' in e.data ? e.data.callId : e.data.id) === callId)
    .map((e) => (e.event === 'call.dtmf' ? `key ${e.data.digit}` : e.event));

test('examples/ivr answers a sandbox call, plays its menu, follows keys 1, 2 and #', async (t) => {
  // The example is on loopback: its webhook and prompt URLs are http://127.0.0.1 (the README's start line).
  const { server, apiKey } = await serverWithSandboxNumber(t, 'true');
  const callgate = new Callgate({ baseUrl: server.url, apiKey });
  const { example, exited, output, said, exampleUrl, webhookId } = await startExample(t, {
    CALLGATE_URL: server.url,
    CALLGATE_API_KEY: apiKey,
    RECORD: 'true',
  });

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

  const events = await streamEvents(t, callgate);

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
  assert.deepEqual(ofCall(events, call.id), [
    'call.ringing',
    'call.connected',
    'key 1',
    'key 2',
    'key #',
    'call.ended',
    'call.recording_ready',
  ]);
  assert.deepEqual(
    output.filter((l) => / ended: /.test(l)),
    [output.find((l) => l.includes(`${call.id} ended: COMPLETED by BUSINESS`))],
    'the example saw one call.ended',
  );
});

/** The example's prompt a pitch is (within 1 %), 'silence' for none; undefined for another pitch. */
function promptOf(hz: number | null): string | undefined {
  const prompts = { menu: MENU_HZ, second: SECOND_HZ, goodbye: GOODBYE_HZ };
  if (hz === null) {
    return 'silence';
  }
  return Object.entries(prompts).find(([, want]) => Math.abs(hz - want) <= want * 0.01)?.[0];
}

/**
 * What a simulated caller hears, from its first sound to the call's end, one entry per stretch: ['menu', 'silence',
 * 'menu', …]. Polled in the background; a pitch between two stretches (half of one, half of the next in the half
 * second a reading covers) is no prompt and left out. `ended` settles when the call is over, or after 45 s.
 */
function listenTo(callgate: Callgate, callId: string) {
  const heard: string[] = [];
  const ended = (async () => {
    for (const deadline = Date.now() + 45_000; Date.now() < deadline; await sleep(20)) {
      const view = await callgate.sandbox.calls.get(callId);
      const now = promptOf(view.heard.frequencyHz);
      if (now !== undefined && now !== heard.at(-1) && (heard.length > 0 || now !== 'silence')) {
        heard.push(now);
      }
      if (view.ended) {
        return;
      }
    }
  })();
  const until = (done: (heard: string[]) => boolean, what: string) =>
    eventually(async () => done(heard), 15_000, `the caller to hear ${what} (heard: ${heard})`);
  return { heard, ended, until };
}

test('examples/ivr plays its menu again to a caller who presses nothing, twice, then says goodbye and hangs up', async (t) => {
  const { server, apiKey } = await serverWithSandboxNumber(t, 'true');
  const callgate = new Callgate({ baseUrl: server.url, apiKey });
  // A short menu and wait, so that the test is short; the three menus and their waits take 15 s.
  const { output, said } = await startExample(t, {
    CALLGATE_URL: server.url,
    CALLGATE_API_KEY: apiKey,
    MENU_PROMPT_SECONDS: '2',
    NO_KEY_SECONDS: '3',
  });
  const events = await streamEvents(t, callgate);
  // The example's log of one call, without times (and its length, on the last line).
  const logOf = (callId: string) =>
    output
      .filter((l) => l.includes(` ${callId} `))
      .map((l) => l.slice(l.indexOf(callId) + callId.length + 1).replace(/, \d+ s$/, ''));

  // Silent: the menu, the wait, the menu again, twice, then the goodbye; the IVR ends the call.
  const { call: silent } = await callgate.sandbox.calls.create({ from: '+15550000042' });
  const silentHeard = listenTo(callgate, silent.id);
  await silentHeard.ended;
  assert.match(silentHeard.heard.join(' '), /^menu silence menu silence menu silence goodbye( silence)?$/);
  await said(new RegExp(`${silent.id} ended: COMPLETED by BUSINESS`));
  const ended = await callgate.calls.get(silent.id);
  assert.equal(ended.status, 'COMPLETED');
  assert.equal(ended.endedBy, 'BUSINESS');

  // A key in the wait after the menu: its choice (1, the second prompt), and no menu again. Had the key not cancelled
  // it, the repeat (3 s after the menu) would be queued behind the second prompt (3 s from the key) and heard next.
  const { call: keyed } = await callgate.sandbox.calls.create({ from: '+15550000043' });
  const keyedHeard = listenTo(callgate, keyed.id);
  await keyedHeard.until((heard) => heard.join(' ') === 'menu silence', 'the menu, then the wait');
  await callgate.sandbox.calls.pressKeys(keyed.id, '1');
  await keyedHeard.until((heard) => heard.length > 3, 'the second prompt, and what follows it');
  assert.deepEqual(keyedHeard.heard.slice(0, 4), ['menu', 'silence', 'second', 'silence']);
  await callgate.sandbox.calls.pressKeys(keyed.id, '#');
  await keyedHeard.ended;
  await said(new RegExp(`${keyed.id} ended: COMPLETED by BUSINESS`));

  // One call.ended each, in the events and in the example's log; the keyed call's end comes after the silent call's,
  // so a second call.ended of the silent call would have been here by now.
  await eventually(async () => ofCall(events, keyed.id).includes('call.ended'), 15_000, "the stream's last event");
  assert.deepEqual(ofCall(events, silent.id), ['call.ringing', 'call.connected', 'call.ended']);
  assert.deepEqual(ofCall(events, keyed.id), ['call.ringing', 'call.connected', 'key 1', 'key #', 'call.ended']);
  assert.deepEqual(logOf(silent.id), [
    'ringing from +15550000042: answering',
    'connected: playing the menu (1, 2 or #)',
    'no key: playing the menu again (1 of 2)',
    'no key: playing the menu again (2 of 2)',
    'no key: goodbye, hanging up',
    'ended: COMPLETED by BUSINESS',
  ]);
  assert.deepEqual(logOf(keyed.id), [
    'ringing from +15550000043: answering',
    'connected: playing the menu (1, 2 or #)',
    'key 1 (keys so far: 1)',
    'key # (keys so far: 1#)',
    'hanging up',
    'ended: COMPLETED by BUSINESS',
  ]);
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

test('examples/ivr says which setting is not a number of seconds, and exits 1', async () => {
  // Number('soon') is NaN, and a NaN timer fires at once: the menu would come again with no wait for a key.
  const example = spawn(process.execPath, [join(ROOT, 'examples/ivr/ivr.ts')], {
    env: {
      PATH: process.env.PATH ?? '',
      CALLGATE_URL: 'http://127.0.0.1:9',
      CALLGATE_API_KEY: 'ps_unused',
      PORT: '0',
      NO_KEY_SECONDS: 'soon',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  example.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => example.once('close', resolve));
  assert.equal(code, 1, stderr);
  assert.equal(stderr, 'Set NO_KEY_SECONDS to a number ≥ 0, not "soon" (examples/ivr/README.md).\n');
});
