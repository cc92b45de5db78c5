// SIGTERM while PostgreSQL has stopped answering (a frozen server, a network partition): the shutdown's own work
// (the sweeper's query, the worker's claim, the pool's end) never finishes, and the process must still exit.
import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/build-test-app.ts';
import { missing } from '../helpers/requirements.ts';
import { type ServerProcess, startServerProcess, startWorkerProcess } from '../helpers/server-process.ts';
import { createTestStore, type TestStore } from '../helpers/stores.ts';

/** A TCP relay to the database that can freeze: bytes stop in both directions, connections stay open. */
async function freezableRelay(host: string, port: number) {
  let frozen = false;
  const pairs: [Socket, Socket][] = [];
  const clients = new Set<Socket>();
  const server: Server = createServer((client) => {
    client.on('error', () => undefined);
    clients.add(client);
    if (frozen) {
      return; // accepted, never answered
    }
    const upstream = connect(port, host);
    upstream.on('error', () => undefined);
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.push([client, upstream]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const relay = {
    port: (server.address() as AddressInfo).port,
    /** Bytes the app sent after the freeze: a query of it is then stuck. */
    sentSinceFreeze: 0,
    freeze() {
      frozen = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        upstream.pause();
        // Read and dropped: nothing reaches the database, nor comes back.
        client.on('data', (chunk: Buffer) => {
          relay.sentSinceFreeze += chunk.length;
        });
        client.resume(); // unpipe left it paused
      }
    },
    close() {
      // Paused sockets never read their end: destroyed here, or close() would wait for them forever.
      for (const socket of [...clients, ...pairs.map(([, upstream]) => upstream)]) {
        socket.destroy();
      }
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return relay;
}

for (const kind of ['server', 'worker'] as const) {
  describe(`SIGTERM to the ${kind} with the database not answering`, { skip: missing('postgres') }, () => {
    let store: TestStore;
    let relay: Awaited<ReturnType<typeof freezableRelay>>;
    let server: ServerProcess;

    before(async () => {
      store = await createTestStore('postgres');
      const url = new URL(store.env.DATABASE_URL as string);
      relay = await freezableRelay(url.hostname, Number(url.port || 5432));
      url.hostname = '127.0.0.1';
      url.port = String(relay.port);
      const env = {
        ...store.env,
        DATABASE_URL: url.toString(),
        LOG_FORMAT: 'json',
        MEDIA_ENGINE: 'off',
        SWEEP_INTERVAL_MS: '100',
      };
      server = kind === 'server' ? await startServerProcess(env) : await startWorkerProcess(env);
    });
    after(async () => {
      server.child.kill('SIGKILL');
      await relay.close();
      await store.dispose();
    });

    test('the process still exits, saying the shutdown did not finish, rather than ignore SIGTERM', async () => {
      if (kind === 'server') {
        assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
      }
      relay.freeze();
      // SIGTERM once a query is stuck (the sweeper's, every 100 ms): with none in flight the shutdown has nothing
      // to wait for and ends cleanly, which is right but not this test.
      await eventually(async () => relay.sentSinceFreeze > 0, 5000, 'a query sent to the frozen database');
      const exited = await Promise.race([
        server.stop('SIGTERM'),
        new Promise((resolve) => setTimeout(() => resolve('still running'), 60_000).unref()),
      ]);
      assert.equal(exited, 1);
      assert.ok(
        server.logs.some((l) => /(shutdown|stop) did not finish in time; exiting/.test(l)),
        server.logs.slice(-5).join('\n'),
      );
    });
  });
}
