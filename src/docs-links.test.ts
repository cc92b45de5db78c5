// The README and docs/ send readers to each other's sections and to source files: a renamed heading or a moved
// file must fail here, not leave a link that opens the top of a page (or nothing).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(import.meta.dirname, '..');
const FILES = [
  'README.md',
  'packages/sdk/README.md',
  'examples/ivr/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inCode = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) {
      inCode = !inCode;
    }
    const heading = inCode ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (heading === null) {
      continue;
    }
    const slug = (heading[1] ?? '')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug);
    seen.set(slug, (count ?? -1) + 1);
    anchors.add(count === undefined ? slug : `${slug}-${count + 1}`);
  }
  return anchors;
}

function headingsOf(markdown: string): string[] {
  return markdown
    .split('\n')
    .filter((line) => /^#{1,6} /.test(line))
    .map((line) => line.replace(/^#+ /, '').replaceAll('`', '').toLowerCase());
}

function read(file: string): string {
  return readFileSync(join(ROOT, file), 'utf8');
}

test('anchorsOf makes the anchors GitHub makes', () => {
  assert.deepEqual(
    [...anchorsOf('# Rotating SECRET_KEY\n## SDK and CLI\n```\n# not a heading\n```\n## Tests\n### Tests\n')],
    ['rotating-secret_key', 'sdk-and-cli', 'tests', 'tests-1'],
  );
});

test('every relative link in the README and docs/ opens an existing file and heading', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of FILES) {
    for (const m of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
      const [path = '', anchor] = (m[1] ?? '').split('#');
      if (/^[a-z]+:/.test(path)) {
        continue;
      }
      checked++;
      const target = path === '' ? file : join(dirname(file), path);
      if (!existsSync(join(ROOT, target))) {
        broken.push(`${file}: ${m[1]}: no file ${target}`);
      } else if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(read(target)).has(anchor)) {
        broken.push(`${file}: ${m[1]}: no heading with that anchor in ${target}`);
      }
    }
  }
  assert.ok(checked > 10, `${checked} links checked`);
  assert.deepEqual(broken, []);
});

test('every section named as docs/x.md "Section" is a heading of that file', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of FILES) {
    const text = read(file).replace(/\s+/g, ' ');
    for (const m of text.matchAll(/(docs\/[\w.-]+\.md),? "([^"]+)"/g)) {
      const [, target = '', section = ''] = m;
      checked++;
      if (!existsSync(join(ROOT, target))) {
        broken.push(`${file}: no file ${target}`);
      } else if (!headingsOf(read(target)).some((h) => h.includes(section.toLowerCase()))) {
        broken.push(`${file}: ${target} has no heading "${section}"`);
      }
    }
  }
  assert.ok(checked > 10, `${checked} section references checked`);
  assert.deepEqual(broken, []);
});

test('every repository path the README and docs/ quote exists', () => {
  const missing: string[] = [];
  for (const file of FILES) {
    for (const m of read(file).matchAll(/`((?:docs|src|test|scripts|packages|bench|bin|patches)\/[^`\s]*)`/g)) {
      const path = (m[1] ?? '').replace(/\/$/, '');
      // Patterns (`src/store/migrations/{sqlite,postgres}/`, `src/**/*.test.ts`) name no single path.
      if (/[{*<]/.test(path)) {
        continue;
      }
      // packages/sdk/README.md names its own files from the package's root.
      if (!existsSync(join(ROOT, path)) && !existsSync(join(ROOT, dirname(file), path))) {
        missing.push(`${file}: ${path}`);
      }
    }
  }
  assert.deepEqual(missing, []);
});
