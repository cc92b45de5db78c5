// The benchmark's webhook receiver: answers every delivery 200 at once and records, per delivery, when it
// arrived (Date.now()) next to the event's own occurredAt. Prints "LISTENING <port>" on stdout.
// GET /_records answers the records so far and forgets them.
import http from 'node:http';

interface DeliveryRecord {
  arrivedAt: number;
  occurredAt: number;
  externalCallId: string | null;
  event: string | null;
}

let records: DeliveryRecord[] = [];
let unparsable = 0;

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/_records') {
    const body = JSON.stringify({ records, unparsable });
    records = [];
    unparsable = 0;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const arrivedAt = Date.now();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
    try {
      const p = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        occurredAt?: unknown;
        externalCallId?: unknown;
        event?: unknown;
      };
      const occurredAt = typeof p.occurredAt === 'string' ? Date.parse(p.occurredAt) : NaN;
      if (!Number.isFinite(occurredAt)) {
        unparsable++;
        return;
      }
      records.push({
        arrivedAt,
        occurredAt,
        externalCallId: typeof p.externalCallId === 'string' ? p.externalCallId : null,
        event: typeof p.event === 'string' ? p.event : null,
      });
    } catch {
      unparsable++;
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
