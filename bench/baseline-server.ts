// The benchmark's baseline: a bare Fastify process (no logger, no plugins, no store) spawned exactly like
// callgate. Routes answer constants; the Meta webhook route also relays one constant event, stamped with its
// occurredAt, to RECEIVER_URL — the floor for "event → delivery" (one HTTP hop in, one out).
import http from 'node:http';
import Fastify from 'fastify';

const app = Fastify({ logger: false });
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const receiver = process.env.RECEIVER_URL ? new URL(process.env.RECEIVER_URL) : null;

app.get('/healthz', async () => ({ status: 'ok' }));

app.post('/v1/calls/:callId/terminate', async () => ({ success: true, id: 'call_baseline', status: 'COMPLETED' }));

app.post('/providers/meta/webhook', async (request) => {
  if (receiver) {
    // The same Meta envelope callgate gets: entry[0].changes[0].value.calls[0].id names the call.
    const body = request.body as { entry?: { changes?: { value?: { calls?: { id?: string }[] } }[] }[] } | undefined;
    const externalCallId = body?.entry?.[0]?.changes?.[0]?.value?.calls?.[0]?.id ?? null;
    const payload = JSON.stringify({ event: 'call.ringing', externalCallId, occurredAt: new Date().toISOString() });
    const req = http.request(
      receiver,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => res.resume(),
    );
    req.on('error', () => undefined);
    req.end(payload);
  }
  return { received: 1 };
});

await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' });
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
