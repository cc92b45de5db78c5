import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runBehindEnvProxy } from '../../../test/helpers/env-proxy.ts';
import { fetchMedia, MediaFetchError } from './fetch-media.ts';

let server: Server;
let base = '';
before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/ok') {
      res.end(Buffer.alloc(1000, 1));
    } else if (req.url === '/big') {
      res.writeHead(200, { 'content-length': '5000' });
      res.end(Buffer.alloc(5000));
    } else if (req.url === '/chunked-big') {
      res.write(Buffer.alloc(3000));
      res.end(Buffer.alloc(3000));
    } else if (req.url?.startsWith('/hop')) {
      const n = Number(req.url.slice(4));
      res.writeHead(302, { location: n > 0 ? `/hop${n - 1}` : '/ok' });
      res.end();
    } else if (req.url === '/bad-location') {
      res.writeHead(302, { location: 'http://a b/' });
      res.end();
    } else if (req.url === '/slow') {
      setTimeout(() => res.end('late'), 2000);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const open = { maxBytes: 4096, timeoutMs: 1000, allowInsecure: true };
const refused = (re: RegExp) => (e: unknown) => e instanceof MediaFetchError && re.test(e.message);

test('a file within the limits is fetched, following up to 3 redirects', async () => {
  assert.equal((await fetchMedia(`${base}/ok`, open)).length, 1000);
  assert.equal((await fetchMedia(`${base}/hop2`, open)).length, 1000);
  await assert.rejects(fetchMedia(`${base}/hop5`, open), refused(/redirects too many times/));
});

test('size, status and time limits are reasons a client can read', async () => {
  await assert.rejects(fetchMedia(`${base}/big`, open), refused(/larger than 4096 bytes/));
  await assert.rejects(fetchMedia(`${base}/chunked-big`, open), refused(/larger than 4096 bytes/));
  await assert.rejects(fetchMedia(`${base}/nothing`, open), refused(/HTTP 404/));
  await assert.rejects(fetchMedia(`${base}/slow`, { ...open, timeoutMs: 200 }), refused(/within 200 ms/));
});

test('the SSRF guard: loopback, private and metadata addresses are refused, by literal or by name', async () => {
  const guarded = { ...open, allowInsecure: false };
  for (const url of [
    'https://127.0.0.1/a.wav',
    'https://169.254.169.254/latest',
    'https://10.0.0.8/a.mp3',
    'http://example.org/a.wav',
  ]) {
    await assert.rejects(fetchMedia(url, guarded), MediaFetchError, url);
  }
  const rebinding = async () => [{ address: '127.0.0.1', family: 4 }];
  await assert.rejects(
    fetchMedia('https://media.example.org/a.wav', { ...guarded, lookup: rebinding }),
    refused(/does not resolve to a public address/),
  );
  // A name that does not resolve reads the same as one that resolves to a private address.
  const unknown = async () => {
    throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
  };
  await assert.rejects(
    fetchMedia('https://nowhere.example.org/a.wav', { ...guarded, lookup: unknown }),
    refused(/^mediaUrl's host does not resolve to a public address$/),
  );
});

test('a redirect to a Location that is no URL is refused as a bad mediaUrl (400), not an internal error', async () => {
  await assert.rejects(fetchMedia(`${base}/bad-location`, open), refused(/^mediaUrl refused: not a valid URL$/));
});

test('a proxy in the environment (NODE_USE_ENV_PROXY, HTTPS_PROXY) never takes a download past the guard', async () => {
  // Node's global agent sends every request through that proxy, which resolves the name itself: the pinned lookup
  // would then judge only the proxy's address, and a name of an internal host would be fetched.
  const run = await runBehindEnvProxy(`
    import { fetchMedia } from ${JSON.stringify(join(import.meta.dirname, 'fetch-media.ts'))};
    const lookup = async () => [{ address: '10.0.0.8', family: 4 }];
    try {
      await fetchMedia('https://media.internal.example/a.wav', { maxBytes: 4096, timeoutMs: 5000, allowInsecure: false, lookup });
      console.log('fetched');
    } catch (error) {
      console.log(error.message);
    }
  `);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.proxied, [], 'nothing went to the proxy');
  assert.equal(run.stdout.trim(), "mediaUrl's host does not resolve to a public address");
});
