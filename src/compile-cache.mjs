// Where callgate keeps Node's compile cache (the type-stripped source and V8's compiled code of every module, keyed
// by file content, so an edited file is never served stale). Plain JavaScript: it runs before the cache is on.
import module from 'node:module';
import { join } from 'node:path';

/** NODE_COMPILE_CACHE if set; otherwise beside the dependencies, where `npm install` filled it (scripts/warm-compile-cache.mjs). */
export const compileCacheDir =
  process.env.NODE_COMPILE_CACHE || join(import.meta.dirname, '..', 'node_modules', '.cache', 'callgate-compile');

/** NODE_DISABLE_COMPILE_CACHE=1 turns it off; a directory that cannot be written leaves it off, nothing else changes. */
export function enableCompileCache() {
  return module.enableCompileCache(compileCacheDir);
}
