// The SDK as an integrator installs it: `npm pack` (prepack builds dist/), the tarball installed offline into a
// project outside the repository, and a script there that imports '@callgate/sdk', lists calls, terminates one
// and verifies a real webhook delivery — on the Node that runs the tests (24) and on the machine's Node 20 —
// plus a TypeScript consumer that type-checks against the shipped declarations.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startWebhookReceiver, type WebhookReceiver } from '../../../test/fakes/webhook-receiver.ts';
import { type LiveServer, startLiveServer } from '../../../test/helpers/live-server.ts';

const run = promisify(execFile);
const SDK = join(import.meta.dirname, '..');
const ROOT = join(SDK, '../..');

const SCRIPT = `import { Callgate, CallgateError, verifyWebhook, WebhookVerificationError } from '@callgate/sdk';
const { baseUrl, apiKey, callId, delivery, secret } = JSON.parse(process.env.SDK_TEST);
const callgate = new Callgate({ baseUrl, apiKey });
const { calls } = await callgate.calls.list({ limit: 50 });
const terminated = await callgate.calls.terminate(callId);
const event = await verifyWebhook(delivery.rawBody, delivery.headers, secret);
let forged = null;
try {
  await verifyWebhook(delivery.rawBody.replace('"call.', '"kall.'), delivery.headers, secret);
} catch (error) {
  forged = error instanceof WebhookVerificationError ? error.name : String(error);
}
let missing = null;
try {
  await callgate.calls.get('call_01NOPE0000000000000000000X');
} catch (error) {
  missing = error instanceof CallgateError ? error.code : String(error);
}
console.log(JSON.stringify({ node: process.version, listed: calls.map((c) => c.id), terminated, event, forged, missing }));
`;

// A CommonJS consumer: require() of the ES module package (Node >= 20.19 and >= 22.12 load ES modules that way).
const CJS_SCRIPT = `const { Callgate, CallgateError, verifyWebhook } = require('@callgate/sdk');
const webhook = require('@callgate/sdk/webhook');
const { baseUrl, apiKey, delivery, secret } = JSON.parse(process.env.SDK_TEST);
(async () => {
  const { calls } = await new Callgate({ baseUrl, apiKey }).calls.list({ limit: 1 });
  const event = await verifyWebhook(delivery.rawBody, delivery.headers, secret);
  const same = webhook.verifyWebhook === verifyWebhook && typeof CallgateError === 'function';
  console.log(JSON.stringify({ listed: calls.length, event: event.event, same }));
})();
`;

const CONSUMER_CTS = `import { Callgate, type Call } from '@callgate/sdk';
const client = new Callgate({ baseUrl: 'http://localhost:8080', apiKey: 'ps_x' });
export const first: Promise<Call | undefined> = client.calls.list({ limit: 1 }).then((page) => page.calls[0]);
`;

const CONSUMER_TS = `import { Callgate, type Call, type CallgateError } from '@callgate/sdk';
import { verifyWebhook } from '@callgate/sdk/webhook';
const client = new Callgate({ baseUrl: 'http://localhost:8080', apiKey: 'ps_x' });
const page = await client.calls.list({ limit: 1 });
const first: Call | undefined = page.calls[0];
const status: 'COMPLETED' | 'RINGING' | string = first?.status ?? 'none';
// @ts-expect-error: limit is a number
await client.calls.list({ limit: 'ten' });
export { status, verifyWebhook };
export type E = CallgateError;
`;

/** Node binaries to run the script with: this one, and each other installed Node (Node 20 on this machine). */
async function nodes(): Promise<{ path: string; version: string }[]> {
  const found = new Map<string, string>([[process.version, process.execPath]]);
  const { stdout } = await run('which', ['-a', 'node']).catch(() => ({ stdout: '' }));
  for (const path of stdout.split('\n').filter(Boolean)) {
    const version = (await run(path, ['--version'])).stdout.trim();
    if (!found.has(version)) {
      found.set(version, path);
    }
  }
  return [...found].map(([version, path]) => ({ path, version }));
}

describe('the packed SDK, installed from its tarball', () => {
  let live: LiveServer;
  let receiver: WebhookReceiver;
  let work: string;
  let project: string;
  let numberKey: string;
  let secret: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'callgate-sdk-pack-'));
    live = await startLiveServer();
    receiver = await startWebhookReceiver();
    const tenant = { 'x-api-key': live.tenantKey.key, 'content-type': 'application/json' };
    const number = await (
      await fetch(`${live.url}/v1/numbers`, {
        method: 'POST',
        headers: tenant,
        body: JSON.stringify(live.numberInput(0)),
      })
    ).json();
    numberKey = number.apiKey.key;
    const webhook = await (
      await fetch(`${live.url}/v1/webhooks`, {
        method: 'POST',
        headers: { 'x-api-key': numberKey, 'content-type': 'application/json' },
        body: JSON.stringify({ url: receiver.url, events: ['call.ringing'] }),
      })
    ).json();
    secret = webhook.secret;
  });
  after(async () => {
    await receiver?.close();
    await live?.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('npm pack ships compiled JavaScript and declarations, not sources as entry points', async () => {
    const packed = join(work, 'packed');
    mkdirSync(packed);
    await run('npm', ['pack', '--pack-destination', packed], {
      cwd: SDK,
      env: { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH ?? ''}` },
    });
    const [tarball] = readdirSync(packed);
    assert.match(tarball ?? '', /^callgate-sdk-\d+\.\d+\.\d+\.tgz$/);
    const { stdout: listing } = await run('tar', ['-tzf', join(packed, tarball ?? '')]);
    for (const file of [
      'package/dist/index.js',
      'package/dist/index.d.ts',
      'package/dist/webhook.js',
      'package/package.json',
    ]) {
      assert.ok(listing.split('\n').includes(file), `${file} is in the tarball`);
    }

    project = join(work, 'app');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'sdk-consumer', private: true, type: 'module' }),
    );
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(packed, tarball ?? '')], {
      cwd: project,
    });
    writeFileSync(join(project, 'check.mjs'), SCRIPT);
    writeFileSync(join(project, 'check.cjs'), CJS_SCRIPT);
  });

  test('a script imports it (and one requires it), lists calls, terminates one and verifies a webhook, on every installed Node', async (t) => {
    assert.ok(project, 'installed by the previous test');
    const runtimes = await nodes();
    if (!runtimes.some((r) => r.version.startsWith('v20.'))) {
      t.diagnostic(`no Node 20 installed; ran on ${runtimes.map((r) => r.version).join(', ')}`);
    }
    for (const runtime of runtimes) {
      const call = await live.incomingCall(0, numberKey);
      await receiver.waitFor((rs) => rs.some((r) => r.body?.id === call.id), 5000, 'the ringing delivery');
      const delivery = receiver.requests.find((r) => r.body?.id === call.id);
      const input = {
        baseUrl: live.url,
        apiKey: numberKey,
        callId: call.id,
        secret,
        delivery: { rawBody: delivery?.rawBody, headers: delivery?.headers },
      };
      const { stdout } = await run(runtime.path, ['check.mjs'], {
        cwd: project,
        env: { PATH: process.env.PATH ?? '', SDK_TEST: JSON.stringify(input) },
      });
      const out = JSON.parse(stdout);
      assert.equal(out.node, runtime.version);
      assert.ok(out.listed.includes(call.id), `${runtime.version}: the call is listed`);
      assert.deepEqual(out.terminated, { success: true, id: call.id, status: 'COMPLETED' }, runtime.version);
      assert.equal(out.event.event, 'call.ringing');
      assert.equal(out.event.id, call.id);
      assert.equal(out.forged, 'WebhookVerificationError', `${runtime.version}: a changed body is refused`);
      assert.equal(out.missing, 'CALL_NOT_FOUND');
      const { stdout: cjs } = await run(runtime.path, ['check.cjs'], {
        cwd: project,
        env: { PATH: process.env.PATH ?? '', SDK_TEST: JSON.stringify(input) },
      });
      assert.deepEqual(
        JSON.parse(cjs),
        { listed: 1, event: 'call.ringing', same: true },
        `${runtime.version}: CommonJS`,
      );
    }
  });

  test('a TypeScript project, ES module and CommonJS files, type-checks against the shipped declarations', async () => {
    assert.ok(project, 'installed by the first test');
    writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(join(project, 'consumer.cts'), CONSUMER_CTS);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          lib: ['es2022', 'dom'],
          types: [],
        },
        files: ['consumer.ts', 'consumer.cts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', project]).catch((e: { stdout: string }) => e);
    assert.equal(result.stdout, '', `tsc found no error:\n${result.stdout}`);
  });
});
