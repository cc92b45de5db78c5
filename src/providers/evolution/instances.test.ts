// The Evolution server's answers as the instance client reads them.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { EvolutionInstances } from './instances.ts';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('Evolution instances', () => {
  const elsewhere: IncomingHttpHeaders[] = [];
  const other = createServer((req, res) => {
    elsewhere.push(req.headers);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ data: { connected: true, loggedIn: true } }));
  });
  let otherUrl = '';
  const redirecting = createServer((_req, res) => {
    res.writeHead(307, { location: `${otherUrl}/instance/status` }).end();
  });
  let baseUrl = '';
  before(async () => {
    otherUrl = await listen(other);
    baseUrl = await listen(redirecting);
  });
  after(() => {
    other.close();
    redirecting.close();
  });

  test('an answer without end is cut off at 1 MiB, not buffered whole', async () => {
    let written = 0;
    const endless = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const more = () => {
        while (written < 64 * 1024 * 1024 && res.write(chunk)) {
          written += chunk.length;
        }
        if (written < 64 * 1024 * 1024) {
          res.once('drain', more);
        } else {
          res.end();
        }
      };
      more();
      res.on('close', () => res.removeAllListeners('drain'));
    });
    const url = await listen(endless);
    try {
      const status = await new EvolutionInstances(5000).status(url, 'instance-token-secret');
      assert.equal(status.ok, false);
      assert.match(status.ok ? '' : status.providerMessage, /over 1048576 bytes/);
      assert.ok(written < 16 * 1024 * 1024, `${written} bytes sent before the read stopped`);
    } finally {
      endless.closeAllConnections();
      endless.close();
    }
  });

  test('a redirect is not followed: the instance token never goes to another origin', async () => {
    const status = await new EvolutionInstances(2000).status(baseUrl, 'instance-token-secret');
    assert.equal(status.ok, false);
    assert.deepEqual(elsewhere, [], 'nothing reached the redirect target');
    // Said as a setting to change, naming where it points, not as a refused request.
    assert.equal(status.ok ? null : status.category, 'CONFIG');
    assert.match(
      status.ok ? '' : status.providerMessage,
      /HTTP 307, a redirect to http:\/\/127\.0\.0\.1:\d+\/instance\/status/,
    );
  });

  test("an error text echoing the apikey or the new instance's token is passed on without them", async () => {
    const echoing = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const token = body ? JSON.parse(body).token : '';
        res.writeHead(req.url === '/instance/create' ? 400 : 500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `apikey ${req.headers.apikey} token ${token}` }));
      });
    });
    const url = await listen(echoing);
    try {
      const instances = new EvolutionInstances(2000);
      const created = await instances.create(url, 'global-key-secret', { name: 'n', token: 'new-instance-token' });
      assert.equal(created.ok ? null : created.providerMessage, 'apikey [redacted] token [redacted]');
      const status = await instances.status(url, 'instance-token-secret');
      assert.equal(status.ok ? null : status.providerMessage, 'apikey [redacted] token ');
    } finally {
      echoing.close();
    }
  });

  test('a server that does not answer in time is said to be slow, not unreachable', async () => {
    const silent = createServer(() => {
      /* never answers */
    });
    const url = await listen(silent);
    try {
      const status = await new EvolutionInstances(100).status(url, 'instance-token-secret');
      assert.equal(status.ok ? null : status.providerMessage, 'the Evolution Go server did not answer within 100 ms');
      silent.close();
      const gone = await new EvolutionInstances(100).status(url, 'instance-token-secret');
      assert.equal(gone.ok ? null : gone.providerMessage, 'the Evolution Go server could not be reached');
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  test('a server outside EVOLUTION_ALLOWED_HOSTS is not asked: the token stays home', async () => {
    const before = elsewhere.length;
    const listed = [{ hostname: 'evo.internal', port: null }];
    const status = await new EvolutionInstances(2000, listed).status(otherUrl, 'instance-token-secret');
    assert.equal(status.ok ? null : status.category, 'CONFIG');
    assert.match(status.ok ? '' : status.providerMessage, /EVOLUTION_ALLOWED_HOSTS/);
    assert.equal(elsewhere.length, before, 'no request reached it');
    const port = Number(new URL(otherUrl).port);
    const allowed = await new EvolutionInstances(2000, [{ hostname: '127.0.0.1', port }]).status(otherUrl, 'tok');
    assert.deepEqual(allowed, { ok: true, value: { connected: true, loggedIn: true } });
  });
});
