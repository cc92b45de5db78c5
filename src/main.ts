// `npm start`: turns on Node's on-disk compile cache, then loads the server (src/server.ts). The cache keeps the
// type-stripped source and V8's compiled code of every module, so a start after the first skips most of the
// loading work (see README "Operations"). It must be on before the server's modules load, hence this separate file.
import module from 'node:module';

// Node's own location: NODE_COMPILE_CACHE if set, otherwise <os.tmpdir()>/node-compile-cache;
// NODE_DISABLE_COMPILE_CACHE=1 turns it off. Entries are keyed by content, so an edited file is never served stale.
module.enableCompileCache();
await import('./server.ts');
// Written now rather than only at exit, so a process killed hard (SIGKILL, OOM) still leaves the next start a cache.
module.flushCompileCache();
