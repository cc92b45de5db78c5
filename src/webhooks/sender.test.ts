// Kept-alive delivery connections: reused across tries, and still only ever opened to an address the
// SSRF lookup let through when the connection was made.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type SendRequest, WebhookSender } from './sender.ts';
import type { HostLookup } from './url-guard.ts';

interface Receiver {
  server: Server;
  connections: number;
  requests: number;
  close(): Promise<void>;
}

/** A receiver on `host`; `drop(n)` makes it cut the connection of the n-th request instead of answering. */
async function receiver(host: string, port = 0, drop: (n: number) => boolean = () => false): Promise<Receiver> {
  const r = { connections: 0, requests: 0 } as Receiver;
  r.server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      r.requests += 1;
      if (drop(r.requests)) {
        return void req.socket.destroy();
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok from ${host}`);
    });
  });
  r.server.on('connection', () => {
    r.connections += 1;
  });
  await new Promise<void>((resolve) => r.server.listen(port, host, resolve));
  r.close = () =>
    new Promise<void>((resolve) => {
      r.server.close(() => resolve());
      r.server.closeAllConnections();
    });
  return r;
}

const portOf = (r: Receiver) => (r.server.address() as AddressInfo).port;
const request = (url: string): SendRequest => ({
  url,
  headers: { 'content-type': 'application/json' },
  body: '{"event":"call.ringing"}',
  timeoutMs: 2000,
});
const send = (sender: WebhookSender, url: string) => sender.send(request(url), new AbortController().signal);

describe('webhook sender connections', () => {
  let a: Receiver;
  let b: Receiver;
  before(async () => {
    a = await receiver('127.0.0.1');
    b = await receiver('127.0.0.2', portOf(a)); // the same port on another loopback address: where a rebound name leads
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  test('tries to one receiver reuse one connection', async () => {
    const sender = new WebhookSender(true);
    const before = a.connections;
    for (let i = 0; i < 5; i++) {
      assert.equal((await send(sender, `http://127.0.0.1:${portOf(a)}/hook`)).outcome, 'success');
    }
    assert.equal(a.connections - before, 1, 'one connection for five tries');
    sender.close();
  });

  test('a kept-alive connection stays with the address it was opened to; new ones follow the lookup again', async () => {
    const answers = new Map([['hooks.test', '127.0.0.1']]);
    let lookups = 0;
    const lookup: HostLookup = async (host) => {
      lookups += 1;
      return [{ address: answers.get(host)!, family: 4 }];
    };
    const sender = new WebhookSender(true, lookup);
    const url = `http://hooks.test:${portOf(a)}/hook`;
    assert.equal((await send(sender, url)).responseBody, 'ok from 127.0.0.1');
    answers.set('hooks.test', '127.0.0.2');
    assert.equal(
      (await send(sender, url)).responseBody,
      'ok from 127.0.0.1',
      'the open connection is reused, not re-resolved',
    );
    assert.equal(lookups, 1);
    a.server.closeIdleConnections();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(
      (await send(sender, url)).responseBody,
      'ok from 127.0.0.2',
      'a new connection is resolved and checked again',
    );
    assert.equal(lookups, 2);
    sender.close();
  });

  test('with the SSRF rules on, a name resolving to a private address is refused before any connection', async () => {
    const lookup: HostLookup = async () => [{ address: '127.0.0.1', family: 4 }];
    const sender = new WebhookSender(false, lookup);
    const before = a.connections;
    const result = await send(sender, `http://rebound.example.com:${portOf(a)}/hook`);
    assert.equal(result.outcome, 'refused');
    assert.equal(result.error, 'refused: host rebound.example.com does not resolve to a public address');
    assert.equal(a.connections, before);
    sender.close();
  });

  test('a name that does not resolve reads the same in the delivery log as one that resolves to a private address', async () => {
    const lookup: HostLookup = async (host) => {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host });
    };
    const sender = new WebhookSender(false, lookup);
    const result = await send(sender, `http://nowhere.example.com:${portOf(a)}/hook`);
    assert.equal(result.outcome, 'refused');
    assert.equal(result.error, 'refused: host nowhere.example.com does not resolve to a public address');
    sender.close();
  });

  test('a receiver that reads the request and cuts the connection gets one POST for that attempt, not two', async () => {
    const c = await receiver('127.0.0.1', 0, (n) => n === 2);
    const sender = new WebhookSender(true);
    const url = `http://127.0.0.1:${portOf(c)}/hook`;
    assert.equal((await send(sender, url)).outcome, 'success');
    const second = await send(sender, url);
    assert.equal(second.outcome, 'network_error');
    assert.equal(c.requests, 2, 'the cut attempt was POSTed once');
    // The next attempt (the retry schedule's) goes out on a new connection.
    assert.equal((await send(sender, url)).outcome, 'success');
    assert.equal(c.requests, 3);
    sender.close();
    await c.close();
  });

  test('a kept-alive connection the receiver closed while idle is not reused', async () => {
    const c = await receiver('127.0.0.1');
    c.server.keepAliveTimeout = 200;
    const sender = new WebhookSender(true);
    const url = `http://127.0.0.1:${portOf(c)}/hook`;
    assert.equal((await send(sender, url)).outcome, 'success');
    await new Promise((r) => setTimeout(r, 400));
    const again = await send(sender, url);
    assert.equal(again.outcome, 'success', again.error ?? '');
    assert.equal(c.requests, 2);
    assert.equal(c.connections, 2);
    sender.close();
    await c.close();
  });
  test('an answer whose body stalls past the timeout counts by its status: a 2xx in time is a success', async () => {
    const c = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const status = req.url === '/busy' ? 503 : 200;
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.write('accepted, more to come'); // and never ends
      });
    });
    await new Promise<void>((resolve) => c.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(c.address() as AddressInfo).port}`;
    const sender = new WebhookSender(true);
    const quick = (url: string) => sender.send({ ...request(url), timeoutMs: 200 }, new AbortController().signal);
    try {
      const ok = await quick(`${base}/hook`);
      assert.equal(ok.outcome, 'success', ok.error ?? '');
      assert.equal(ok.statusCode, 200);
      assert.equal(ok.responseBody, 'accepted, more to come');
      const busy = await quick(`${base}/busy`);
      assert.equal(busy.outcome, 'http_error');
      assert.equal(busy.statusCode, 503);
    } finally {
      sender.close();
      c.closeAllConnections();
      await new Promise<void>((resolve) => c.close(() => resolve()));
    }
  });

  test("a 2xx in before the worker's shutdown aborts the try counts, its body stalled or not", async () => {
    let answered: () => void = () => undefined;
    const answeredOnce = new Promise<void>((resolve) => {
      answered = resolve;
    });
    const c = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('accepted', () => answered()); // and never ends
      });
    });
    await new Promise<void>((resolve) => c.listen(0, '127.0.0.1', resolve));
    const sender = new WebhookSender(true);
    const shutdown = new AbortController();
    try {
      const url = `http://127.0.0.1:${(c.address() as AddressInfo).port}/hook`;
      const sent = sender.send({ ...request(url), timeoutMs: 10_000 }, shutdown.signal);
      await answeredOnce;
      await new Promise((resolve) => setTimeout(resolve, 50)); // the status line reaches the sender
      shutdown.abort();
      const result = await sent;
      assert.equal(result.aborted, false, 'not given back to be sent again');
      assert.equal(result.outcome, 'success', result.error ?? '');
      assert.equal(result.statusCode, 200);
    } finally {
      sender.close();
      c.closeAllConnections();
      await new Promise<void>((resolve) => c.close(() => resolve()));
    }
  });

  test('an answer cut off in its body counts by its status', async () => {
    const c = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(202, { 'content-length': '100' });
        res.write('queued', () => req.socket.destroy());
      });
    });
    await new Promise<void>((resolve) => c.listen(0, '127.0.0.1', resolve));
    const sender = new WebhookSender(true);
    try {
      const result = await send(sender, `http://127.0.0.1:${(c.address() as AddressInfo).port}/hook`);
      assert.equal(result.outcome, 'success', result.error ?? '');
      assert.equal(result.statusCode, 202);
      assert.equal(result.responseBody, 'queued');
    } finally {
      sender.close();
      c.closeAllConnections();
      await new Promise<void>((resolve) => c.close(() => resolve()));
    }
  });

  test('no answer at all within the timeout is a timeout', async () => {
    const c = createServer((req) => req.resume());
    await new Promise<void>((resolve) => c.listen(0, '127.0.0.1', resolve));
    const sender = new WebhookSender(true);
    const url = `http://127.0.0.1:${(c.address() as AddressInfo).port}/hook`;
    const result = await sender.send({ ...request(url), timeoutMs: 200 }, new AbortController().signal);
    assert.equal(result.outcome, 'timeout');
    assert.equal(result.statusCode, null);
    assert.equal(result.error, 'timed out after 200 ms');
    sender.close();
    c.closeAllConnections();
    await new Promise<void>((resolve) => c.close(() => resolve()));
  });
});
