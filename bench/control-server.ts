// The loopback HTTP server every media bench helper process answers on: JSON in, JSON out (or a raw body), one
// handler per path. Prints "LISTENING <port>" for spawnListening (bench/lib.ts).
import http from 'node:http';

/** A handler's answer: a value sent as JSON, or a Buffer sent as it is. */
export type ControlHandler = (path: string, body: Record<string, unknown>) => Promise<unknown>;

export function serveControl(handle: ControlHandler): http.Server {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      handle(req.url ?? '/', text ? (JSON.parse(text) as Record<string, unknown>) : {}).then(
        (answer) => {
          const out = Buffer.isBuffer(answer) ? answer : Buffer.from(JSON.stringify(answer));
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': out.length });
          res.end(out);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        },
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
  return server;
}
