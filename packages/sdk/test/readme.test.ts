// The SDK's examples are what integrators copy first: every ```ts block of packages/sdk/README.md and of the root
// README's SDK section must type-check, verbatim, against the SDK (the names a fragment only uses, such as
// `rawBody` or `callId`, are declared around it).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const SDK = join(import.meta.dirname, '..');
const ROOT = join(SDK, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** The free names the examples use, declared when a block does not define them itself. */
const FREE: Record<string, string> = {
  callgate: `import { Callgate as CallgateFree } from '@callgate/sdk';
declare const callgate: CallgateFree;`,
  rawBody: 'declare const rawBody: string;',
  request: 'declare const request: { headers: Record<string, string | string[] | undefined> };',
  req: 'declare const req: { headers: Record<string, string | string[] | undefined> };',
  callId: 'declare const callId: string;',
  myBot: 'declare function myBot(frame: Int16Array): Promise<Int16Array | null>;',
  writeFile: "import { writeFile } from 'node:fs/promises';",
};

function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

function withDeclarations(block: string): string {
  const defined = (name: string) =>
    new RegExp(`(const|let|function|import)\\s*\\{?[^;=]*\\b${name}\\b[^;]*?(=|from)`).test(block);
  const used = (name: string) => new RegExp(`\\b${name}\\b`).test(block);
  const preamble = Object.entries(FREE)
    .filter(([name]) => used(name) && !defined(name))
    .map(([, declaration]) => declaration);
  return `${preamble.join('\n')}\n${block}\nexport {};\n`;
}

test('every TypeScript example of the READMEs type-checks against the SDK', async () => {
  const sdkReadme = readFileSync(join(SDK, 'README.md'), 'utf8');
  const rootReadme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const rootSdk = rootReadme.slice(rootReadme.indexOf('### TypeScript SDK'), rootReadme.indexOf('### CLI'));
  const blocks = [...tsBlocks(sdkReadme), ...tsBlocks(rootSdk)];
  assert.ok(blocks.length >= 4, `found ${blocks.length} examples`);

  const dir = mkdtempSync(join(tmpdir(), 'callgate-sdk-readme-'));
  try {
    const files = blocks.map((block, i) => {
      const file = join(dir, `example-${i}.mts`);
      writeFileSync(file, withDeclarations(block));
      return file;
    });
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2023',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          allowImportingTsExtensions: true,
          lib: ['es2023', 'dom'],
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules/@types')],
          paths: { '@callgate/sdk': [join(SDK, 'src/index.ts')] },
        },
        files,
      }),
    );
    const result = await promisify(execFile)(process.execPath, [TSC, '-p', dir]).catch((e: { stdout: string }) => e);
    const shown = (result.stdout ?? '').replace(/example-(\d+)\.mts\((\d+)/g, (_, i, line) => {
      const code = readFileSync(join(dir, `example-${i}.mts`), 'utf8').split('\n')[Number(line) - 1];
      return `example ${i}, "${code?.trim()}" (${line}`;
    });
    assert.ok(shown === '', `the README examples type-check:\n${shown}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
