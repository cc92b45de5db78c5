// The publishing build: the SDK compiles to JavaScript + declarations against the DOM's typings alone (no
// @types/node: nothing Node-only in it), and the output runs as plain JavaScript.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const SDK = join(import.meta.dirname, '..');
const TSC = join(SDK, '../../node_modules/typescript/bin/tsc');

test('tsconfig.build.json compiles the SDK with DOM typings only, and the JavaScript runs', async () => {
  const out = mkdtempSync(join(tmpdir(), 'callgate-sdk-dist-'));
  try {
    await promisify(execFile)(process.execPath, [TSC, '-p', join(SDK, 'tsconfig.build.json'), '--outDir', out], {
      cwd: SDK,
    });
    // Plain .js with rewritten relative imports: loads without type stripping.
    writeFileSync(join(out, 'package.json'), '{"type":"module"}');
    const sdk = await import(pathToFileURL(join(out, 'index.js')).href);
    assert.equal(typeof sdk.Callgate, 'function');
    assert.equal(typeof sdk.verifyWebhook, 'function');
    assert.ok(sdk.ERROR_CODES.includes('CALL_NOT_FOUND'));
    const client = new sdk.Callgate({
      baseUrl: 'http://127.0.0.1:9',
      apiKey: 'ps_x',
      fetch: async () => new Response('{"calls":[]}'),
    });
    assert.deepEqual(await client.calls.list(), { calls: [], nextBefore: null });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
