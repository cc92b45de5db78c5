// The SDK's types are generated from the server; this fails when a route or schema changed and
// `npm run sdk:types` was not run (the committed files would describe another API).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GENERATED_DIR, generateSdkFiles } from '../../../scripts/generate-sdk-types.ts';

test('the committed generated files equal a fresh generation from the server (run `npm run sdk:types` if not)', async () => {
  const fresh = await generateSdkFiles();
  assert.deepEqual(Object.keys(fresh).sort(), ['error-codes.ts', 'openapi.json', 'openapi.ts']);
  for (const [name, text] of Object.entries(fresh)) {
    const committed = readFileSync(join(GENERATED_DIR, name), 'utf8');
    assert.ok(
      committed === text,
      `packages/sdk/src/generated/${name} is stale: run \`npm run sdk:types\` and commit the result`,
    );
  }
});

test('the generated types describe every /v1 route the server serves', async () => {
  const doc = JSON.parse(readFileSync(join(GENERATED_DIR, 'openapi.json'), 'utf8')) as {
    paths: Record<string, unknown>;
  };
  const types = readFileSync(join(GENERATED_DIR, 'openapi.ts'), 'utf8');
  const v1 = Object.keys(doc.paths).filter((p) => p.startsWith('/v1/'));
  assert.ok(v1.length >= 20, `expected the whole API, got ${v1.length} paths`);
  for (const p of v1) {
    assert.ok(types.includes(`"${p}": {`), `${p} is typed`);
  }
});
