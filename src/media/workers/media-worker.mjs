// A media worker's entry: Node's compile cache is per thread, so it is turned on here as src/main.mjs does for the
// main thread, before the worker's TypeScript modules load (plain JavaScript for the same reason as main.mjs).
import { enableCompileCache } from '../../compile-cache.mjs';

enableCompileCache();
await import('./media-worker.ts');
