// The README's fresh-machine path, as a user types it: npm run callgate -- tenants create, then npm start.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';

const ROOT = join(import.meta.dirname, '../..');
const run = promisify(execFile);

describe('README commands on the embedded store', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'callgate-readme-'));
  // Only the variables a user's shell would have: the store comes from DATA_DIR, nothing else is set.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), DATA_DIR: dataDir };
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  let tenantKey = '';

  test('npm run --silent callgate -- tenants create --name Acme prints only the tenant key JSON', async () => {
    const { stdout } = await run('npm', ['run', '--silent', 'callgate', '--', 'tenants', 'create', '--name', 'Acme'], {
      cwd: ROOT,
      env,
    });
    const parsed = JSON.parse(stdout);
    assert.match(parsed.tenantId, /^tenant_[0-9A-Z]{26}$/);
    assert.match(parsed.apiKey.id, /^key_/);
    assert.match(parsed.apiKey.key, /^ps_[A-Za-z0-9]{32,}$/);
    tenantKey = parsed.apiKey.key;
  });

  test('npm start serves /openapi.json, /docs and the API on the same store', async () => {
    const child = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...env, PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('npm start did not listen within 20 s')), 20_000);
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`npm start exited with ${code}`)));
      });
      const doc = await (await fetch(`${url}/openapi.json`)).json();
      assert.equal(doc.openapi, '3.1.0');
      const terminate = doc.paths['/v1/calls/{callId}/terminate'].post;
      assert.equal(terminate.operationId, 'post_calls_callId_terminate');
      for (const status of ['200', '400', '401', '403', '404', '429', '502']) {
        assert.ok(terminate.responses[status], `terminate documents ${status}`);
      }
      for (const path of [
        '/v1/calls',
        '/v1/calls/{callId}',
        '/v1/numbers',
        '/v1/api-keys',
        '/providers/meta/webhook',
        '/healthz',
        '/readyz',
      ]) {
        assert.ok(doc.paths[path], `${path} is documented`);
      }
      const docs = await fetch(`${url}/docs/`);
      assert.equal(docs.status, 200);
      assert.match(await docs.text(), /swagger/i);
      const numbers = await fetch(`${url}/v1/numbers`, { headers: { 'x-api-key': tenantKey } });
      assert.equal(numbers.status, 200, 'the CLI and the server share the embedded store');
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  // A supervisor (docker stop, a process manager) signals the process it started, npm, not its whole group. npm
  // passes the signal to the shell running the script; the shell must have become the server (exec), or the
  // server never hears it and outlives npm.
  test('SIGTERM to npm start alone shuts the server down cleanly before npm exits', async () => {
    const child = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...env, PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const lines: string[] = [];
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          lines.push(line);
          const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
          if (m) {
            resolve(m[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`npm start exited with ${code}`)));
      });
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      // npm waits for its script: once it has exited, a server that heard the signal is gone.
      const after = await fetch(`${url}/healthz`).then(
        (res) => `still answering (${res.status})`,
        () => 'closed',
      );
      assert.equal(after, 'closed', 'the server stopped with npm');
      assert.ok(
        lines.some((line) => line.includes('shutting down')),
        'the server shut down on the signal (logged "shutting down")',
      );
    } finally {
      // The whole group: a server left behind by npm is in it.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Nothing left.
      }
    }
  });

  test('SIGTERM to npm run callgate alone reaches the command (calls watch ends cleanly)', async () => {
    const marker = `http://127.0.0.1:9/npm-${process.pid}-${Date.now()}`;
    const child = spawn(
      'npm',
      ['run', '--silent', 'callgate', '--', 'calls', 'watch', '--url', marker, '--key', 'ps_x'],
      {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          if (line.includes('TIME')) {
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`calls watch exited with ${code}`)));
      });
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      const { stdout: processes } = await run('ps', ['-eo', 'args']);
      assert.ok(!processes.includes(marker), 'no callgate process is left running after npm');
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Nothing left.
      }
    }
  });

  test("bin/callgate.mjs (callgate on PATH after npm link) runs on the machine's own Node too", async () => {
    // The machine's Node, outside node_modules: a fresh machine's is older than the CLI needs (it runs itself again
    // on the Node npm installed); with none older on PATH, the Node running this test checks the plain path.
    const machineNode =
      (env.PATH.split(':') as string[])
        .filter((dir) => dir !== '' && !dir.includes('node_modules'))
        .map((dir) => join(dir, 'node'))
        .find((path) => existsSync(path)) ?? process.execPath;
    const bin = join(ROOT, 'bin/callgate.mjs');
    const { stdout } = await run(machineNode, [bin, 'completion', 'bash'], { cwd: tmpdir(), env });
    assert.match(stdout, /complete -F _callgate callgate/);
    const typo = await run(machineNode, [bin, 'tenantz'], { cwd: tmpdir(), env }).catch((e) => e);
    assert.equal(typo.code, 2, 'the exit code comes through');
    assert.match(typo.stderr, /did you mean.*tenants/);

    // A supervisor's SIGTERM to the command reaches what it runs, which ends cleanly: nothing is left behind.
    const marker = `http://127.0.0.1:9/${process.pid}-${Date.now()}`;
    const watch = spawn(machineNode, [bin, 'calls', 'watch', '--url', marker, '--key', 'ps_x'], { env });
    let out = '';
    watch.stdout.on('data', (chunk) => {
      out += chunk;
    });
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (out.includes('TIME')) {
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    const exited = new Promise<number | null>((resolve) => watch.once('exit', (code) => resolve(code)));
    watch.kill('SIGTERM');
    assert.equal(await exited, 0, 'calls watch ends cleanly on SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { stdout: processes } = await run('ps', ['-eo', 'args']);
    assert.ok(!processes.includes(marker), 'no callgate process is left running');
  });
});
