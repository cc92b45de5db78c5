// Hostile input on the surface fuzz.test.ts does not reach with live objects: media commands on server-media calls
// of a SANDBOX number (play, stop, realtime-session, accept/pre-accept without an SDP, the recording), the sandbox
// routes, the realtime WebSocket (handshakes, query strings, frames in both framings), Evolution webhooks signed with
// the number's own token, Idempotency-Key edge cases and list query strings. Generated with fast-check from a fixed
// seed (FUZZ_SEED overrides it). Every refusal must be a 4xx in the envelope that leaves the call as it was, no
// request may be answered 5xx or logged as an error, and the process must keep answering.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { buildTestApp, eventually, type TestApp } from '../helpers/build-test-app.ts';
import { callIn } from '../helpers/calls.ts';
import { addWebNumber, type WebNumber } from '../helpers/evolution.ts';
import { LEVEL, type LogSink, logSink } from '../helpers/log-sink.ts';
import { storeKinds } from '../helpers/stores.ts';
import { responseProblems, type SeenResponse } from './hostile-app.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261204);

interface Seen {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

/** The odd path segments fuzz.test.ts uses, the ones a call id meets in the media routes. */
const ODD_IDS = [
  '%2F',
  'a%2Fb',
  '..%2F..%2Fhealthz',
  '%2e%2e',
  '%00',
  '%E0%A4%A',
  '%C0%AF',
  '%F0%9F%92%A5',
  encodeURIComponent('ñ'),
  encodeURIComponent('\u202e'),
  'call_',
  'call_00000000000000000000000000',
  'a'.repeat(257),
  'a'.repeat(1025),
  '__proto__',
  'constructor',
  "'%20OR%201%3D1--",
];

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'APPLICATION/JSON',
  'application/jsonx',
];

/** Bodies around the media routes' schemas: valid-looking, mutated, wrong types, not JSON. */
const mediaBody = fc.oneof(
  fc
    .record(
      {
        mediaUrl: fc.oneof(
          fc.constantFrom(
            'file:///etc/passwd',
            'ftp://example.com/a.wav',
            'http://',
            'http://[::1',
            'https://example.com/%zz',
            'http://127.0.0.1:99999/x.wav',
            `https://example.com/${'a'.repeat(2100)}`,
            'javascript:alert(1)',
            '',
          ),
          fc.string({ maxLength: 30 }),
          fc.integer(),
          fc.constant(null),
        ),
        clear: fc.oneof(fc.constant(false), fc.constant('true'), fc.integer(), fc.constant(null)),
        mode: fc.oneof(fc.constantFrom('TALK', 'speak', '', 'listen ', 'talk\u0000'), fc.integer(), fc.constant(null)),
        sdp: fc.oneof(
          fc.constantFrom('', 'v=0', 'v=0\r\n', '\u0000', 'a'.repeat(70_000)),
          fc.integer(),
          fc.constant(null),
          fc.constant([]),
        ),
        record: fc.oneof(fc.constantFrom('true', 'yes', 1, 0, null), fc.constant({})),
      },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.constantFrom(
    '',
    '{',
    'null',
    '[]',
    '"x"',
    '{"mode":"talk"',
    '{"a":1}garbage',
    '\uFEFF{}',
    '{"mode":"talk"}x',
    '{"__proto__":{"polluted":true},"mode":"x"}',
    '{"constructor":{"prototype":{"polluted":true}}}',
  ),
  fc.integer({ min: 1, max: 3000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
);

/** Bodies for POST /v1/sandbox/calls that the schema or the audio check must refuse. */
const sandboxBody = fc
  .record(
    {
      from: fc.oneof(fc.constantFrom('+0', '+1', '1'.repeat(16), '+١٢٣٤٥٦٧٨', ''), fc.integer()),
      audio: fc.oneof(
        fc.constantFrom(
          'tone:0',
          'tone:49',
          'tone:4001',
          'tone:99999999',
          'tone:-1',
          'tone:',
          'data:audio/wav;base64,',
          'data:audio/wav;base64,AAAA',
          'data:audio/wav;base64,UklGRgAAAABXQVZF',
          'data:audio/wav;base64,!!!!',
          'data:text/plain;base64,AAAA',
          'ftp://example.com/a.wav',
          'https://',
          'trumpet',
          '',
        ),
        fc.integer(),
      ),
      hangupAfterSeconds: fc.oneof(fc.constantFrom(0, -1, 86_401, 1.5, 2 ** 53, '10'), fc.constant(null)),
      answer: fc.oneof(fc.constantFrom('ACCEPT', 'maybe', ''), fc.integer()),
      extra: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  )
  // At least one field the schema or the audio check refuses (an empty object is a valid request).
  .filter((v) => Object.keys(v).length > 0)
  .map((v) => JSON.stringify(v));

const RANGES = [
  'bytes=99999999999999999999-',
  'bytes=-0',
  'bytes=5-2',
  'bytes=0-1,3-4',
  'bytes=',
  'bytes=-',
  'items=0-1',
  'bytes=0x10-',
  'bytes=-99999999999999999999999',
  'bytes= 0-1',
  'bytes=1e3-',
];

function rawRequest(
  baseUrl: string,
  o: { method: string; path: string; headers?: Record<string, string | string[]>; body?: string },
): Promise<Seen> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: o.method, path: o.path, headers: o.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

/** One upgrade request written byte by byte as given; the status and body of the answer (101 included). */
function rawUpgrade(
  baseUrl: string,
  path: string,
  headers: string,
  method = 'GET',
): Promise<{ status: number; body: string }> {
  const port = Number(new URL(baseUrl).port);
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    let data = '';
    socket.on('connect', () => socket.write(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${headers}\r\n`));
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      const split = data.indexOf('\r\n\r\n');
      if (split === -1) {
        return;
      }
      const status = Number(data.slice(9, 12));
      const length = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, split));
      if (status === 101 || method === 'HEAD' || !length || data.length >= split + 4 + Number(length[1])) {
        socket.destroy();
        resolve({ status, body: Buffer.from(data.slice(split + 4), 'latin1').toString('utf8') });
      }
    });
    socket.on('error', reject);
  });
}

function problemsOf(method: string, url: string, r: Seen): string[] {
  const seen: SeenResponse = { method, url, status: r.status, headers: r.headers, body: r.body };
  const problems = responseProblems(seen);
  if (r.status >= 500) {
    problems.push('5xx');
  }
  return problems;
}

const errorLines = (sink: LogSink) => sink.lines.filter((l) => l.level >= LEVEL.error);

for (const kind of storeKinds()) {
  describe(`hostile input on media, sandbox, realtime and provider routes [${kind}]`, { concurrency: 1 }, () => {
    let t: TestApp;
    let sink: LogSink;
    let key: string;
    let web: WebNumber;
    /** Calls of the sandbox number: ringing, answered with server media (recording), ended with a recording. */
    const calls = { ringing: '', live: '', recorded: '' };
    let metaRinging = '';

    const api = (method: string, url: string, o: { body?: string; headers?: Record<string, string> } = {}) =>
      t.app.inject({
        method: method as 'GET',
        url,
        headers: { 'x-api-key': key, ...o.headers },
        ...(o.body !== undefined ? { payload: o.body } : {}),
      });
    const callJson = async (id: string, apiKey = key) =>
      (await t.app.inject({ url: `/v1/calls/${id}`, headers: { 'x-api-key': apiKey } })).body;

    before(async () => {
      sink = logSink('warn');
      t = await buildTestApp(kind, { logger: sink.logger });
      const created = await t.app.inject({
        method: 'POST',
        url: '/v1/numbers',
        headers: { 'x-api-key': t.tenantKey.key },
        payload: { provider: 'SANDBOX', name: 'Fuzz', sandbox: { answerAfterSeconds: 0 } },
      });
      assert.equal(created.statusCode, 201, created.body);
      key = created.json().apiKey.key;
      const start = async () => {
        const res = await api('POST', '/v1/sandbox/calls', { body: '{"audio":"tone:440"}', headers: json });
        assert.equal(res.statusCode, 201, res.body);
        return res.json().call.id as string;
      };
      const json = { 'content-type': 'application/json' };
      calls.recorded = await start();
      assert.equal(
        (await api('POST', `/v1/calls/${calls.recorded}/accept`, { body: '{"record":true}', headers: json }))
          .statusCode,
        200,
      );
      await sleep(300);
      assert.equal((await api('POST', `/v1/calls/${calls.recorded}/terminate`)).statusCode, 200);
      await eventually(
        async () => JSON.parse(await callJson(calls.recorded)).recording?.status === 'ready',
        15_000,
        'the recording',
      );
      calls.live = await start();
      assert.equal(
        (await api('POST', `/v1/calls/${calls.live}/accept`, { body: '{"record":true}', headers: json })).statusCode,
        200,
      );
      calls.ringing = await start();
      metaRinging = (await callIn(t, 'RINGING', t.numberA)).id;
      web = await addWebNumber(t, 'on');
    });
    after(async () => {
      await api('POST', `/v1/calls/${calls.live}/terminate`);
      await api('POST', `/v1/calls/${calls.ringing}/terminate`);
      await web?.fake.close();
      await t?.close();
    });

    test('media commands, recording and sandbox routes: every refusal a 4xx envelope that leaves the call as it was', {
      timeout: 120_000,
    }, async () => {
      // Ranges of the real recording first (the generated requests may delete it): each answered 200, 206 or 416 in the envelope, never more than the file.
      for (const range of RANGES) {
        const res = await api('GET', `/v1/calls/${calls.recorded}/recording`, { headers: { range } });
        assert.ok([200, 206, 416].includes(res.statusCode), `${range} → ${res.statusCode} ${res.body.slice(0, 100)}`);
        assert.deepEqual(
          problemsOf('GET', 'recording', {
            status: res.statusCode,
            headers: res.headers,
            body: res.statusCode === 416 ? res.body : '',
          }),
          [],
          range,
        );
      }
      const failures: string[] = [];
      const tally = new Map<string, number>();
      const ids = [calls.ringing, calls.live, calls.recorded];
      const routes = [
        ['POST', 'accept'],
        ['POST', 'pre-accept'],
        ['POST', 'play'],
        ['DELETE', 'play'],
        ['POST', 'realtime-session'],
        ['GET', 'recording'],
        ['DELETE', 'recording'],
      ] as const;
      const request = fc.record({
        route: fc.nat({ max: routes.length + 1 }),
        call: fc.oneof(
          { weight: 4, arbitrary: fc.nat({ max: ids.length - 1 }).map((i) => ({ index: i })) },
          { weight: 1, arbitrary: fc.constantFrom(...ODD_IDS).map((text) => ({ text })) },
        ),
        body: fc.oneof({ weight: 4, arbitrary: mediaBody }, { weight: 1, arbitrary: sandboxBody }),
        contentType: fc.constantFrom(...CONTENT_TYPES),
        range: fc.option(fc.constantFrom(...RANGES), { nil: undefined }),
      });
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const id = 'index' in r.call ? ids[r.call.index]! : r.call.text;
          let method: string;
          let url: string;
          if (r.route < routes.length) {
            const [m, tail] = routes[r.route]!;
            method = m;
            url = `/v1/calls/${id}/${tail}`;
          } else if (r.route === routes.length) {
            method = 'POST';
            url = '/v1/sandbox/calls';
          } else {
            method = 'GET';
            url = `/v1/sandbox/calls/${id}`;
          }
          const callId = 'index' in r.call ? id : null;
          const before = callId ? await callJson(callId) : null;
          const headers: Record<string, string> = { 'content-type': r.contentType };
          if (r.range) {
            headers.range = r.range;
          }
          const withBody = method === 'POST';
          const res = await api(method, url, { headers, ...(withBody ? { body: r.body } : {}) });
          const seen = { status: res.statusCode, headers: res.headers, body: res.body };
          const code = res.statusCode >= 400 ? (JSON.parse(res.body) as { code?: string }).code : '';
          const tallyKey = `${method} ${url.replace(/^\/v1\/(calls|sandbox\/calls)\/[^/]+/, '/v1/$1/:id')} ${res.statusCode} ${code}`;
          tally.set(tallyKey, (tally.get(tallyKey) ?? 0) + 1);
          const problems = problemsOf(method, url, seen);
          if (res.statusCode >= 400 && callId && (await callJson(callId)) !== before) {
            problems.push('the call changed');
          }
          if (problems.length && failures.length < 20) {
            failures.push(
              `${problems.join('; ')} ← ${method} ${url.slice(0, 80)} ${JSON.stringify(headers)} ${r.body.slice(0, 120)} → ${res.statusCode} ${res.body.slice(0, 200)}`,
            );
          }
          // A body the server took (a 2xx: a sandbox call with a valid audio, a DELETE of the recording) is fine.
        }),
        { numRuns: 400, seed: SEED },
      );
      console.log(
        `[fuzz-media ${kind}] seed=${SEED}`,
        [...tally.entries()]
          .sort()
          .map(([k, n]) => `${k}: ${n}`)
          .join(', '),
      );
      assert.deepEqual(failures, [], `seed ${SEED}`);
      assert.equal(JSON.parse(await callJson(calls.live)).status, 'ACCEPTED', 'the answered call is still up');
      assert.deepEqual(errorLines(sink), []);
    });

    test('realtime WebSocket handshakes and query strings: a 4xx envelope or a socket, and a refusal keeps the token', {
      timeout: 120_000,
    }, async () => {
      const failures: string[] = [];
      const token = async () => {
        const res = await api('POST', `/v1/calls/${calls.live}/realtime-session`, {
          body: '{"mode":"talk"}',
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(res.statusCode, 200, res.body);
        return res.json().token as string;
      };
      const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
      /** Mostly the valid header, sometimes one of the others: most handshakes break one rule, some none or several. */
      const header = (valid: string, ...others: string[]) =>
        fc.oneof(
          { weight: 3 * others.length, arbitrary: fc.constant(valid) },
          { weight: others.length, arbitrary: fc.constantFrom(...others) },
        );
      const handshake = fc.record({
        upgrade: header(
          'Upgrade: websocket\r\n',
          'Upgrade: WebSocket\r\n',
          'Upgrade: h2c\r\n',
          'Upgrade: websocket, x\r\n',
          '',
        ),
        connection: header(
          'Connection: Upgrade\r\n',
          'Connection: keep-alive, Upgrade\r\n',
          'Connection: close\r\n',
          '',
        ),
        version: header(
          'Sec-WebSocket-Version: 13\r\n',
          'Sec-WebSocket-Version: 8\r\n',
          'Sec-WebSocket-Version: 99\r\n',
          '',
        ),
        key: header(KEY, 'Sec-WebSocket-Key: short\r\n', ''),
        protocol: header(
          '',
          'Sec-WebSocket-Protocol: a, a\r\n',
          'Sec-WebSocket-Protocol: ,\r\n',
          'Sec-WebSocket-Protocol: audio\r\n',
          'Sec-WebSocket-Protocol: a b\r\n',
        ),
        extensions: header(
          '',
          'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=99\r\n',
          'Sec-WebSocket-Extensions: ;;\r\n',
        ),
        query: fc.oneof(
          { weight: 6, arbitrary: fc.constant('') },
          fc.constantFrom(
            '&format=pcm16',
            '&format=twilio&format=pcm16',
            '&format=mp3',
            '&format=',
            '&format[]=pcm16',
            '&format=pcm16&format=pcm16&format=pcm16&format=pcm16&format=pcm16',
            '&token=x',
            '&__proto__[x]=1',
          ),
          fc.string({ maxLength: 12 }).map((s) => `&format=${encodeURIComponent(s)}`),
        ),
        tokenForm: header('real', 'empty', 'long', 'unicode', 'missing', 'array'),
        method: header('GET', 'HEAD'),
      });
      await fc.assert(
        fc.asyncProperty(handshake, async (h) => {
          const tk = await token();
          const tokenPart = {
            real: `token=${tk}`,
            empty: 'token=',
            long: `token=${'a'.repeat(300)}`,
            unicode: `token=${encodeURIComponent('💥')}`,
            missing: '',
            array: `token[]=${tk}`,
          }[h.tokenForm];
          const path = `/v1/media/realtime?${tokenPart}${h.query}`;
          const res = await rawUpgrade(
            t.baseUrl,
            path,
            `${h.upgrade}${h.connection}${h.version}${h.key}${h.protocol}${h.extensions}`,
            h.method,
          );
          const problems =
            res.status === 101 ? [] : problemsOf(h.method, path, { status: res.status, headers: {}, body: res.body });
          if (res.status !== 101 && res.status >= 500) {
            problems.push('5xx');
          }
          // requestId is checked against the header in problemsOf; the raw reader keeps no headers: drop that one.
          const real = problems.filter((p) => p !== 'requestId differs from the x-request-id header');
          if (res.status !== 101 && res.status !== 401 && h.tokenForm === 'real') {
            // Refused before the token was redeemed: it still opens a socket.
            const again = await rawUpgrade(
              t.baseUrl,
              `/v1/media/realtime?token=${tk}`,
              `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n${KEY}`,
            );
            if (again.status !== 101) {
              real.push(`the token was spent by a refused handshake (then ${again.status})`);
            }
          }
          if (real.length && failures.length < 20) {
            failures.push(
              `${real.join('; ')} ← ${path.slice(0, 90)} ${JSON.stringify(h)} → ${res.status} ${res.body.slice(0, 160)}`,
            );
          }
        }),
        { numRuns: 150, seed: SEED },
      );
      assert.deepEqual(failures, [], `seed ${SEED}`);
      // Not WebSocket requests to its path: methods and a plain GET, each a 4xx (HEAD without a body).
      const tk = await token();
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
        const res = await rawRequest(t.baseUrl, {
          method,
          path: `/v1/media/realtime?token=${tk}`,
          headers: { 'content-type': 'application/json' },
          body: method === 'GET' ? undefined : '{}',
        });
        assert.ok(res.status >= 400 && res.status < 500, `${method} → ${res.status}`);
        assert.deepEqual(problemsOf(method, '/v1/media/realtime', res), [], method);
      }
      const ws = new WebSocket(`${t.baseUrl.replace(/^http/, 'ws')}/v1/media/realtime?token=${tk}`);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.close();
      assert.deepEqual(errorLines(sink), []);
    });

    test('realtime frames: junk text, binary in a text framing, bad media payloads, marks and clears never end the call', {
      timeout: 120_000,
    }, async () => {
      const before = await callJson(calls.live);
      const base64ish = fc.oneof(
        fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('base64')),
        fc.constantFrom('', 'A', 'AA', 'AAA', '====', 'A===', '!!!!', 'AAAA\nAAAA', '-_-_', 'A'.repeat(120_000)),
        fc.string({ maxLength: 20 }),
      );
      const twilioMessage = fc
        .oneof(
          fc.record(
            {
              event: fc.constant('media'),
              media: fc.oneof(
                fc.record(
                  { payload: fc.oneof(base64ish, fc.integer(), fc.constant(null)), track: fc.string({ maxLength: 5 }) },
                  { requiredKeys: [] },
                ),
                fc.jsonValue({ maxDepth: 1 }),
              ),
            },
            { requiredKeys: [] },
          ),
          fc.record(
            {
              event: fc.constant('mark'),
              mark: fc.oneof(
                fc.record(
                  { name: fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.constant('')) },
                  { requiredKeys: [] },
                ),
                fc.jsonValue({ maxDepth: 1 }),
              ),
              name: fc.string({ maxLength: 5 }),
            },
            { requiredKeys: [] },
          ),
          fc.record({
            event: fc.constantFrom(
              'clear',
              'stop',
              'start',
              'connected',
              'dtmf',
              '__proto__',
              'constructor',
              'toString',
              'MEDIA',
              '',
            ),
          }),
          fc.record({ event: fc.jsonValue({ maxDepth: 1 }) }),
        )
        .map((m) => JSON.stringify(m));
      const frame = fc.oneof(
        { weight: 6, arbitrary: twilioMessage.map((text) => ({ text })) },
        { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v) ?? 'null' })) },
        { weight: 2, arbitrary: fc.string({ maxLength: 60 }).map((text) => ({ text })) },
        {
          weight: 1,
          arbitrary: fc.integer({ min: 1, max: 20_000 }).map((n) => ({ text: `${'['.repeat(n)}${']'.repeat(n)}` })),
        },
        { weight: 3, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((b) => ({ binary: Buffer.from(b) })) },
        { weight: 1, arbitrary: fc.constantFrom(0, 1, 639, 641, 320_001).map((n) => ({ binary: Buffer.alloc(n, 1) })) },
      );
      const open = async (format: string, mode = 'talk') => {
        const res = await api('POST', `/v1/calls/${calls.live}/realtime-session`, {
          body: JSON.stringify({ mode }),
          headers: { 'content-type': 'application/json' },
        });
        const ws = new WebSocket(
          `${t.baseUrl.replace(/^http/, 'ws')}/v1/media/realtime?token=${res.json().token}&format=${format}`,
        );
        const state = { closed: null as number | null, texts: 0 };
        ws.on('close', (code) => {
          state.closed = code;
        });
        ws.on('message', (_d, binary) => {
          if (!binary) {
            state.texts++;
          }
        });
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        return { ws, state };
      };
      for (const [format, mode] of [
        ['twilio', 'talk'],
        ['pcm16', 'talk'],
        ['twilio', 'listen'],
      ] as const) {
        const { ws, state } = await open(format, mode);
        const frames = fc.sample(frame, { numRuns: 300, seed: SEED + format.length + mode.length });
        for (const f of frames) {
          if ('text' in f) {
            ws.send(f.text, { binary: false });
          } else {
            ws.send(f.binary, { binary: true });
          }
        }
        // A ping answered proves every frame before it was read; the socket is still open and talking.
        await new Promise<void>((resolve) => {
          ws.once('pong', () => resolve());
          ws.ping();
        });
        assert.equal(state.closed, null, `${format}/${mode}: closed with ${state.closed}`);
        assert.ok(state.texts >= 1, `${format}/${mode}: the start message came`);
        ws.close();
        await eventually(async () => state.closed !== null, 3000, 'the close');
      }
      // A text frame that is not UTF-8 breaks the protocol: ws closes that socket (1007), the call goes on.
      const { ws, state } = await open('twilio');
      ws.send(Buffer.from([0xc3, 0x28]), { binary: false });
      await eventually(async () => state.closed !== null, 3000, 'the close');
      assert.equal(state.closed, 1007);
      assert.equal(await callJson(calls.live), before, 'the call is as it was');
      assert.equal((await t.app.inject({ url: '/healthz' })).statusCode, 200);
      assert.deepEqual(errorLines(sink), []);
    });

    test('Evolution webhooks with the number’s own token: generated payloads and duplicates never a 5xx', {
      timeout: 120_000,
    }, async () => {
      const failures: string[] = [];
      const url = `/providers/evolution/webhook/${web.id}`;
      const jid = fc.constantFrom(
        '5521977776666:3@s.whatsapp.net',
        '187654321098765@lid',
        '@',
        ':',
        '.@c.us',
        '5511@g.us',
        `${'5'.repeat(400)}@s.whatsapp.net`,
        '',
      );
      const text = fc.oneof(
        jid,
        fc.string({ maxLength: 20 }),
        fc.constantFrom(
          'timeout',
          'rejected',
          'accepted_elsewhere',
          'server:1',
          '2026-04-02T14:05:09-03:00',
          '0000-01-01T00:00:00Z',
          '0001-01-01T00:00:00+05:00',
          '9999-12-31T23:59:59.999999999+14:00',
        ),
      );
      const junk = fc.jsonValue({ maxDepth: 2 });
      const v = fc.oneof(text, junk);
      const data = fc.record(
        {
          CallID: fc.oneof(fc.constantFrom('B4E1F0C2A9D84E6F8A1B2C3D4E5F6A7B', 'X', '', 'a'.repeat(3000), '../..'), v),
          callId: fc.oneof(fc.constantFrom('B4E1F0C2A9D84E6F8A1B2C3D4E5F6A7B', 'Y'), v),
          CallCreator: v,
          CallCreatorAlt: v,
          From: v,
          Timestamp: v,
          GroupJID: v,
          Reason: v,
          reason: v,
          peer: v,
          direction: fc.oneof(fc.constantFrom('incoming', 'outgoing'), v),
          video: v,
          durationSeconds: fc.oneof(fc.integer(), fc.double(), fc.constant(2 ** 63), v),
          Data: fc.oneof(
            junk,
            fc.record(
              {
                Tag: v,
                Attrs: junk,
                Content: fc.oneof(
                  junk,
                  fc.array(fc.record({ Tag: fc.oneof(fc.constant('video'), v) }), { maxLength: 2 }),
                ),
              },
              { requiredKeys: [] },
            ),
          ),
        },
        { requiredKeys: [] },
      );
      const envelope = fc.record({
        event: fc.oneof(
          fc.constantFrom(
            'CallOffer',
            'CallTerminate',
            'CallAccept',
            'CallReady',
            'CallEnded',
            'CallOfferNotice',
            'CallRelayLatency',
            'Message',
            '__proto__',
            'toString',
          ),
          v,
        ),
        data: fc.oneof({ weight: 5, arbitrary: data }, { weight: 1, arbitrary: junk }),
        auth: fc.constantFrom('token', 'token', 'token', 'none', 'wrong', 'other-id'),
        duplicate: fc.boolean(),
        contentType: fc.constantFrom('application/json', 'application/json', 'text/plain', 'application/octet-stream'),
      });
      await fc.assert(
        fc.asyncProperty(envelope, async (e) => {
          const auth = {
            token: { instanceToken: web.token, instanceId: web.instanceId },
            none: {},
            wrong: { instanceToken: `${web.token}x`, instanceId: web.instanceId },
            'other-id': { instanceToken: web.token, instanceId: '7c9e6679-7425-40de-944b-999999999999' },
          }[e.auth];
          const body = JSON.stringify({ event: e.event, data: e.data, ...auth, instanceName: 'web' });
          const answers: Seen[] = [];
          for (let i = 0; i < (e.duplicate ? 2 : 1); i++) {
            const res = await t.app.inject({
              method: 'POST',
              url,
              headers: { 'content-type': e.contentType },
              payload: body,
            });
            answers.push({ status: res.statusCode, headers: res.headers, body: res.body });
          }
          const problems = answers.flatMap((a) => problemsOf('POST', url, a));
          if (e.auth !== 'token' && answers.some((a) => a.status !== 401)) {
            problems.push('unauthenticated delivery not refused');
          }
          if (answers.length === 2 && answers[0]!.status !== answers[1]!.status) {
            problems.push('a duplicate delivery answered differently');
          }
          if (problems.length && failures.length < 20) {
            failures.push(
              `${problems.join('; ')} ← ${body.replace(web.token, 'TOKEN').slice(0, 200)} → ${answers.map((a) => `${a.status} ${a.body.slice(0, 120)}`).join(' | ')}`,
            );
          }
        }),
        { numRuns: 800, seed: SEED },
      );
      assert.deepEqual(failures, [], `seed ${SEED}`);
      // Deep, huge and not-JSON bodies carrying the right token.
      const auth = `"instanceToken":${JSON.stringify(web.token)},"instanceId":${JSON.stringify(web.instanceId)}`;
      for (const body of [
        `{${auth},"event":"CallOffer","data":${'['.repeat(60_000)}${']'.repeat(60_000)}}`,
        `{${auth},"event":"CallOffer","data":${'{"a":'.repeat(60_000)}1${'}'.repeat(60_000)}}`,
        `{${auth},"event":"CallOffer","data":{"CallID":"${'x'.repeat(1024 * 1024)}"}}`,
        `{${auth},"event":"CallOffer","data":{"CallID":"nul\\u0000","CallCreator":"5511999990000@s.whatsapp.net"}}`,
        `{${auth},"event":"CallOffer"`,
        `\uFEFF{${auth}}`,
      ]) {
        const res = await t.app.inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/json' },
          payload: body,
        });
        assert.deepEqual(
          problemsOf('POST', url, { status: res.statusCode, headers: res.headers, body: res.body }),
          [],
          `${body.slice(0, 60)} → ${res.statusCode}`,
        );
      }
      assert.deepEqual(errorLines(sink), []);
    });

    test('Idempotency-Key: long, non-ASCII, repeated, reused with another body, and concurrent on one call', async () => {
      const post = (path: string, idem: string | string[], body: string) =>
        rawRequest(t.baseUrl, {
          method: 'POST',
          path,
          headers: { 'x-api-key': key, 'content-type': 'application/json', 'idempotency-key': idem },
          body,
        });
      const path = `/v1/calls/${metaRinging}/realtime-session`;
      for (const idem of ['a'.repeat(256), 'a'.repeat(8000)]) {
        const res = await post(path, idem, '{"mode":"talk"}');
        assert.equal(res.status, 400, idem.length.toString());
        assert.deepEqual(problemsOf('POST', path, res), []);
      }
      const huge = await post(path, 'x'.repeat(70_000), '{"mode":"talk"}');
      assert.equal(huge.status, 431);
      // Header bytes outside ASCII (Node reads them as latin1) and two headers: a key like any other.
      for (const idem of ['ñandú', Buffer.from('ключ', 'utf8').toString('latin1'), ['k1', 'k2']]) {
        const first = await post(`/v1/calls/${calls.live}/play`, idem, '{"clear":true}');
        const again = await post(`/v1/calls/${calls.live}/play`, idem, '{"clear":true}');
        assert.equal(first.status, 200, first.body);
        assert.equal(again.status, 200);
        assert.equal(again.headers['idempotent-replayed'], 'true');
        const other = await post(`/v1/calls/${calls.live}/play`, idem, '{"mediaUrl":"https://example.com/a.wav"}');
        assert.equal(other.status, 422);
        assert.equal(JSON.parse(other.body).code, 'IDEMPOTENCY_KEY_REUSED');
      }
      // Ten realtime sessions at once under one key: one token is made, every answer is that token or a 409.
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          post(`/v1/calls/${calls.live}/realtime-session`, 'one-session', '{"mode":"listen"}'),
        ),
      );
      const tokens = new Set(answers.filter((a) => a.status === 200).map((a) => JSON.parse(a.body).token));
      assert.equal(tokens.size, 1);
      for (const a of answers) {
        assert.ok(
          a.status === 200 || (a.status === 409 && JSON.parse(a.body).code === 'IDEMPOTENCY_IN_PROGRESS'),
          a.body,
        );
      }
      assert.deepEqual(errorLines(sink), []);
    });

    test('list query strings: limits, tampered cursors, arrays, unicode and far dates are 200 or a 400 envelope', async () => {
      const failures: string[] = [];
      const value = fc.oneof(
        fc.constantFrom(
          '0',
          '-1',
          '101',
          '1e2',
          '0x10',
          '99999999999999999999',
          '0000-01-01T00:00:00Z',
          '0001-01-01T00:00:00%2B05:00',
          '9999-12-31T23:59:59Z',
          '2016-12-31T23:59:60Z',
          '2023-02-29T00:00:00Z',
          'call_00000000000000000000000000',
          `call_${'Z'.repeat(26)}`,
          'RINGING,',
          '%2B',
          '%00',
          encodeURIComponent('１２３'),
          encodeURIComponent('💥'),
        ),
        fc.string({ maxLength: 30 }).map(encodeURIComponent),
      );
      const query = fc.array(
        fc.record({
          name: fc.constantFrom('limit', 'before', 'status', 'peer', 'limit[]', 'before[a]', '__proto__[x]', 'to'),
          value,
        }),
        { maxLength: 4 },
      );
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('/v1/calls', '/v1/calls/permissions'), query, async (path, q) => {
          const url = `${path}?${q.map((p) => `${p.name}=${p.value}`).join('&')}`;
          const res = await t.app.inject({ url, headers: { 'x-api-key': t.numberA.key.key } });
          const problems = problemsOf('GET', url, { status: res.statusCode, headers: res.headers, body: res.body });
          if (![200, 400].includes(res.statusCode)) {
            problems.push(`status ${res.statusCode}`);
          }
          if (problems.length && failures.length < 20) {
            failures.push(`${problems.join('; ')} ← ${url} → ${res.statusCode} ${res.body.slice(0, 160)}`);
          }
        }),
        { numRuns: 400, seed: SEED },
      );
      assert.deepEqual(failures, [], `seed ${SEED}`);
      assert.deepEqual(errorLines(sink), []);
    });
  });
}
