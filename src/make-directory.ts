import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * mkdir -p that always ends: creates `dir` and its missing parents with `mode`, or throws the failing step's error
 * (its `code` says why). Node's own `mkdirSync(dir, { recursive: true })` loops for ever when mkdir answers ENOENT
 * under a parent that exists, as procfs does (`DATA_DIR=/proc/x`: mkdir /proc/x → ENOENT, mkdir /proc → EEXIST,
 * again), which hung the start with no word.
 */
export function makeDirectory(dir: string, mode: number): void {
  const missing: string[] = [];
  let path = resolve(dir);
  for (;;) {
    try {
      if (!statSync(path).isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), { code: 'ENOTDIR', path });
      }
      break;
    } catch (err) {
      const parent = dirname(path);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === path) {
        throw err;
      }
      missing.push(path);
      path = parent;
    }
  }
  for (const each of missing.reverse()) {
    try {
      mkdirSync(each, { mode });
    } catch (err) {
      // Made meanwhile by another process (two starting on one DATA_DIR): as good as made here.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(each).isDirectory()) {
        throw err;
      }
    }
  }
}
