// The README's Configuration table is what operators read instead of config.ts: it must name every variable
// loadConfig reads, no other, and each default it gives as a literal must be the one config.ts applies.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from './config.ts';
import { DEFAULT_RETRY_SCHEDULE_MS } from './webhooks/retry-schedule.ts';

interface Row {
  variable: string;
  /** The documented default when the cell gives one as a literal (`8080`); undefined for prose ("unset", …). */
  literal: string | undefined;
}

function readmeConfigurationRows(): Row[] {
  const readme = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8');
  const start = readme.indexOf('\n## Configuration\n');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const rows: Row[] = [];
  for (const line of section.split('\n').filter((l) => /^\| `[A-Z]/.test(l))) {
    const [, variables = '', defaults = ''] = line.split('|').map((cell) => cell.trim());
    const names = [...variables.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1] ?? '');
    // `A` / `B` in the first cell pairs with `a` / `b` in the second.
    const values = defaults.split(' / ');
    names.forEach((variable, i) => {
      const value = values.length === names.length ? values[i] : undefined;
      rows.push({ variable, literal: value === undefined ? undefined : /^`([^`]+)`/.exec(value)?.[1] });
    });
  }
  return rows;
}

test('the README configuration table names exactly the variables loadConfig reads', () => {
  const read = new Set<string>();
  loadConfig(
    new Proxy<Record<string, string | undefined>>(
      {},
      {
        get: (_target, key) => {
          if (typeof key === 'string') {
            read.add(key);
          }
          return undefined;
        },
      },
    ),
  );
  const documented = new Set(readmeConfigurationRows().map((row) => row.variable));
  assert.ok(documented.size > 40, `the table was found (${documented.size} variables)`);
  assert.deepEqual(
    [...read].filter((name) => !documented.has(name)),
    [],
    'read by config.ts, missing from the README',
  );
  assert.deepEqual(
    [...documented].filter((name) => !read.has(name)),
    [],
    'in the README, read by nothing',
  );
});

test("every default the README gives as a literal is config.ts's: setting it changes nothing", () => {
  const defaults = loadConfig({});
  let checked = 0;
  for (const { variable, literal } of readmeConfigurationRows()) {
    if (literal === undefined) {
      continue;
    }
    if (variable === 'WEBHOOK_RETRY_SCHEDULE_MS') {
      // Shown as its start: `0,5000,300000,...`.
      const shown = literal
        .replace(/,\.\.\.$/, '')
        .split(',')
        .map(Number);
      assert.deepEqual(DEFAULT_RETRY_SCHEDULE_MS.slice(0, shown.length), shown, variable);
      continue;
    }
    const value = literal.replace('DATA_DIR', './data');
    assert.deepEqual(loadConfig({ [variable]: value }), defaults, `README: ${variable} defaults to ${literal}`);
    checked++;
  }
  assert.ok(checked > 30, `${checked} literal defaults checked`);
});
