// Migrations are recorded by their number: two files with one number would leave one of them never applied.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const dir = join(import.meta.dirname, 'migrations');
const files = (dialect: string) => readdirSync(join(dir, dialect)).filter((f) => f.endsWith('.sql'));

test('every migration has a number of its own, and both stores have the same migrations', () => {
  for (const dialect of ['sqlite', 'postgres']) {
    const numbers = files(dialect).map((f) => Number.parseInt(f, 10));
    assert.ok(
      numbers.every((n) => Number.isInteger(n)),
      `${dialect}: every file starts with its number`,
    );
    assert.equal(new Set(numbers).size, numbers.length, `${dialect}: a number used twice: ${files(dialect)}`);
  }
  assert.deepEqual(files('sqlite').sort(), files('postgres').sort());
});
