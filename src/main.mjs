// `npm start`: turns on Node's compile cache, then starts the server (src/server.ts). With the cache that
// `npm install` filled, no module is type-stripped or compiled again at start-up (README "Operations"). Plain
// JavaScript so that this file too needs no type stripping, which would load the stripper on every start.
import module from 'node:module';
import { enableCompileCache } from './compile-cache.mjs';

enableCompileCache();
const { startServer, ConfigError } = await import('./server.ts');
try {
  await startServer();
} catch (err) {
  // A setting the service cannot use: one line naming it, not a stack trace.
  if (!(err instanceof ConfigError)) {
    throw err;
  }
  process.stderr.write(`callgate: ${err.message}\n`);
  process.exit(1);
}
// Written now rather than only at exit, so a process killed hard (SIGKILL, OOM) still leaves the next start a cache.
module.flushCompileCache();
