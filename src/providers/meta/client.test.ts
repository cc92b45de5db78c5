// The Graph client's deadline: an answer that arrived in time is taken even when the process was too busy to read it
// before the timer fired (a loaded host, a cold process), rather than turned into "Meta did not answer".
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { Call } from '../../model/call.ts';
import type { NumberRecord } from '../../model/number.ts';
import { MetaProvider } from './client.ts';

/** Keeps the whole process (event loop and timers included) busy, as a descheduled or overloaded process is. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

describe('Meta client deadline', () => {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ success: true }));
      // The answer is on its way; the client's process cannot look at it until the stall is over.
      stall(400);
    });
  });
  let baseUrl = '';
  before(async () => {
    baseUrl = await listening(server);
  });
  after(() => closed(server));

  test('an answer that arrived before the deadline counts even if the process stalled past it', async () => {
    const provider = new MetaProvider({
      baseUrl,
      version: 'v23.0',
      timeoutMs: 150,
      secretsOf: () => ({ accessToken: 't', appSecret: 's', verifyToken: 'v' }),
      logger: pino({ level: 'silent' }),
    });
    const number = { id: 'num_1', metaPhoneNumberId: '1001', publicConfig: {} } as unknown as NumberRecord;
    const call = { id: 'call_1', externalCallId: 'wacid.1' } as unknown as Call;
    const result = await provider.endCall(number, call, 'terminate');
    assert.deepEqual(result, { ok: true, value: undefined });
  });
});

describe('Meta client: a hang-up Meta answered 5xx', () => {
  // Meta ends the call, then fails its answer; the retry hears "already ended" (code 100).
  const answers: [number, string][] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const [status, body] = answers.shift() ?? [200, JSON.stringify({ success: true })];
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  let baseUrl = '';
  before(async () => {
    baseUrl = await listening(server);
  });
  after(() => closed(server));
  const alreadyEnded = JSON.stringify({
    error: { message: '(#100) Invalid parameter', type: 'OAuthException', code: 100, fbtrace_id: 'A1' },
  });

  for (const [name, first] of [
    ['a Graph 500', [500, JSON.stringify({ error: { code: 1, message: 'An unknown error occurred' } })]],
    ['a 503 page', [503, '<html>Service Unavailable</html>']],
    ['a 200 that is not JSON', [200, 'ok']],
  ] as const) {
    test(`${name}, then "already ended" to the retry: the hang-up was ours`, async () => {
      const provider = new MetaProvider({
        baseUrl,
        version: 'v23.0',
        timeoutMs: 2000,
        secretsOf: () => ({ accessToken: 't', appSecret: 's', verifyToken: 'v' }),
        logger: pino({ level: 'silent' }),
      });
      const number = { id: 'num_1', metaPhoneNumberId: '1001', publicConfig: {} } as unknown as NumberRecord;
      const call = { id: 'call_1', externalCallId: 'wacid.1' } as unknown as Call;
      for (const action of ['terminate', 'reject'] as const) {
        answers.push([first[0], first[1]], [400, alreadyEnded]);
        assert.deepEqual(await provider.endCall(number, call, action), { ok: true, value: undefined }, action);
        assert.equal(answers.length, 0, 'both answers were used');
      }
    });
  }
});

/** The stand-in's URL once it listens on a free loopback port. */
async function listening(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closed(server: Server): void {
  server.closeAllConnections();
  server.close();
}

describe('Meta client: verifyNumber, asked before a number is stored', () => {
  const seen: { method?: string; url?: string; authorization?: string }[] = [];
  const answers: [number, string][] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
    req.resume();
    req.on('end', () => {
      const [status, body] = answers.shift() ?? [200, JSON.stringify({ calling: { status: 'ENABLED' } })];
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  let baseUrl = '';
  before(async () => {
    baseUrl = await listening(server);
  });
  after(() => closed(server));

  test('reads the settings of that id with that token, and reports no connection state', async () => {
    const states: string[] = [];
    const provider = new MetaProvider({
      baseUrl,
      version: 'v23.0',
      timeoutMs: 2000,
      secretsOf: () => assert.fail('a number not stored has no sealed secrets'),
      logger: pino({ level: 'silent' }),
      onConnectionState: (_n, state) => states.push(state),
    });
    assert.deepEqual(await provider.verifyNumber('1001', 'EAAG-given'), { ok: true, value: undefined });
    assert.deepEqual(seen.at(-1), { method: 'GET', url: '/v23.0/1001/settings', authorization: 'Bearer EAAG-given' });
    answers.push([401, JSON.stringify({ error: { code: 190, message: '(#190) Malformed access token EAAG-given' } })]);
    const refused = await provider.verifyNumber('1001', 'EAAG-given');
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.category, 'AUTH');
    assert.ok(!refused.ok && !refused.providerMessage.includes('EAAG-given'), 'the token is not quoted back');
    assert.deepEqual(states, []);
  });
});
