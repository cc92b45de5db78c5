// A minimal loopback stand-in for the Meta Graph API, for benchmarks only: every request is answered at once
// with Graph's success body. (test/fakes/meta-graph.ts is faithful but records every request, which would be
// the bottleneck.) Prints "LISTENING <port>" on stdout; GET /_count answers how many Graph requests it served.
import http from 'node:http';

const BODY = Buffer.from('{"messaging_product":"whatsapp","success":true}');
let served = 0;

const server = http.createServer((req, res) => {
  if (req.url === '/_count') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ served }));
    return;
  }
  served++;
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
    res.end(BODY);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
