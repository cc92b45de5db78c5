// A redirect never carries the key elsewhere: fetch follows one with every header but Authorization, so a proxy or
// load balancer in front of callgate that redirects to another origin would be handed x-api-key.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Callgate } from '../src/index.ts';
import { callgateError } from './callgate-error.ts';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('redirects', () => {
  const seenElsewhere: IncomingHttpHeaders[] = [];
  const elsewhere = createServer((req, res) => {
    seenElsewhere.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"calls":[],"hasMore":false}');
  });
  let target = '';
  // Every request is sent on to the other origin: 302 for GET, 307 (method and body kept) for POST.
  const front = createServer((req, res) => {
    res.writeHead(req.method === 'POST' ? 307 : 302, { location: `${target}${req.url}` }).end();
  });
  let base = '';
  before(async () => {
    target = await listen(elsewhere);
    base = await listen(front);
  });
  after(() => {
    for (const s of [front, elsewhere]) {
      s.closeAllConnections();
      s.close();
    }
  });

  test('are not followed, by requests, retries or the event stream: the key stays with baseUrl', async () => {
    const key = 'ps_SecretThatMustStayHome0000000000000000';
    for (const apiKey of [{ apiKey: key }, { apiKeyId: 'key_IdThatMustStayHome000000000000000' }]) {
      const client = new Callgate({ baseUrl: base, ...apiKey, maxRetries: 2, retry: { baseDelayMs: 1 } });
      for (const call of [
        () => client.calls.list({ limit: 1 }),
        () => client.calls.terminate('call_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P'),
        async () => {
          for await (const _ of client.events.stream({ reconnect: false })) {
            break;
          }
        },
      ]) {
        const error = await callgateError(call());
        assert.equal(error.code, 'REDIRECTED');
        assert.match(error.message, new RegExp(`redirect to ${target}/v1/`));
      }
    }
    assert.deepEqual(seenElsewhere, [], 'nothing reached the other origin');
  });
});
