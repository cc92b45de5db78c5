// Preloaded into the soaked server (NODE_OPTIONS=--import): prints its heap figures every few seconds on stderr as
// `SOAK_MEM {json}`, and writes a heap snapshot on SIGUSR2 (`SOAK_SNAPSHOT <path>`). Only the soak loads it.
import { writeHeapSnapshot } from 'node:v8';

const every = Number(process.env.SOAK_PROBE_MS || 5000);
setInterval(() => {
  const m = process.memoryUsage();
  process.stderr.write(
    `SOAK_MEM ${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers })}\n`,
  );
}, every).unref();

process.on('SIGUSR2', () => {
  const dir = process.env.SOAK_SNAPSHOT_DIR || '.';
  const path = writeHeapSnapshot(`${dir}/soak-${Date.now()}.heapsnapshot`);
  process.stderr.write(`SOAK_SNAPSHOT ${path}\n`);
});
