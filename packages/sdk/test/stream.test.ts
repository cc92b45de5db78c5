// events.stream() against a server process: live events, resume with Last-Event-ID after the connection drops
// (a proxy cuts it), and the ways a stream ends.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type FaultProxy, startFaultProxy } from '../../../test/helpers/fault-proxy.ts';
import { type IssuedKey, type LiveServer, startLiveServer } from '../../../test/helpers/live-server.ts';
import { Callgate, CallgateError, type StreamEvent, type StreamOptions } from '../src/index.ts';
import { parseSse } from '../src/stream.ts';

/** Consumes a stream in the background; `opened` resolves on the first connection. */
function collect(client: Callgate, opts: StreamOptions = {}) {
  const events: StreamEvent[] = [];
  const opens: (string | null)[] = [];
  let resolveOpen!: () => void;
  const opened = new Promise<void>((r) => {
    resolveOpen = r;
  });
  const stream = client.events.stream({
    reconnectDelayMs: 50,
    ...opts,
    onOpen: (info) => {
      opens.push(info.lastEventId);
      resolveOpen();
      opts.onOpen?.(info);
    },
  });
  const done = (async () => {
    for await (const e of stream) {
      events.push(e);
    }
  })();
  done.catch(() => {});
  return { stream, events, opens, opened, done };
}

async function until<T>(check: () => T | undefined | false, ms = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('parseSse', () => {
  test('follows the SSE rules: multi-line data, comments, CRLF split across chunks, retry, ids', async () => {
    const chunks = ['retry: 1500\r\n: hi\r', '\nid: 7\nevent: call.ended\ndata: {"a":\ndata: 1}\n', '\n', 'data:x\n\n'];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const c of chunks) {
          controller.enqueue(new TextEncoder().encode(c));
        }
        controller.close();
      },
    });
    const blocks = [];
    for await (const b of parseSse(body)) {
      blocks.push(b);
    }
    assert.deepEqual(blocks, [{ id: '7', event: 'call.ended', retry: 1500, data: '{"a":\n1}' }, { data: 'x' }]);
  });
});

describe('events.stream against a server process', () => {
  let live: LiveServer;
  let proxy: FaultProxy;
  let key: IssuedKey;
  let direct: Callgate;

  before(async () => {
    live = await startLiveServer();
    proxy = await startFaultProxy(live.url);
    const tenant = new Callgate({ baseUrl: live.url, apiKey: live.tenantKey.key });
    key = (await tenant.numbers.create(live.numberInput(0))).apiKey;
    direct = new Callgate({ baseUrl: live.url, apiKey: key.key });
  });
  after(async () => {
    await proxy.close();
    await live.close();
  });

  test('delivers the webhook payloads live, in order, with their cursors', async () => {
    const s = collect(direct);
    await s.opened;
    const call = await live.incomingCall(0, key.key);
    await direct.calls.terminate(call.id);
    const ended = await until(
      () => s.events.find((e) => e.data.id === call.id && e.event === 'call.ended'),
      5000,
      'call.ended',
    );
    const mine = s.events.filter((e) => e.data.id === call.id);
    assert.deepEqual(
      mine.map((e) => e.event),
      ['call.ringing', 'call.ended'],
    );
    assert.deepEqual(
      mine.map((e) => ('sequence' in e.data ? e.data.sequence : null)),
      [1, 2],
    );
    assert.equal(ended.data.event, 'call.ended');
    assert.match(ended.data.eventId, /^evt_/);
    assert.deepEqual(JSON.parse(ended.raw), ended.data);
    assert.equal(s.stream.lastEventId, ended.id);
    s.stream.close();
    await s.done;
  });

  test('after the connection drops it reconnects with Last-Event-ID and loses nothing, repeats nothing', async () => {
    const viaProxy = new Callgate({ baseUrl: proxy.url, apiKey: key.key });
    const s = collect(viaProxy);
    await s.opened;
    const first = await live.incomingCall(0, key.key);
    await until(() => s.events.find((e) => e.data.id === first.id), 5000, 'the first call');
    const seen = s.stream.lastEventId!;

    proxy.setRefusing(true); // drops the stream and keeps it down
    await direct.calls.terminate(first.id);
    const second = await live.incomingCall(0, key.key);
    await direct.calls.terminate(second.id);
    await new Promise((r) => setTimeout(r, 200));
    proxy.setRefusing(false);

    await until(
      () => s.events.find((e) => e.data.id === second.id && e.event === 'call.ended'),
      8000,
      'the missed events',
    );
    assert.deepEqual(
      s.events.filter((e) => e.data.id === first.id).map((e) => e.event),
      ['call.ringing', 'call.ended'],
    );
    assert.deepEqual(
      s.events.filter((e) => e.data.id === second.id).map((e) => e.event),
      ['call.ringing', 'call.ended'],
    );
    assert.equal(new Set(s.events.map((e) => e.id)).size, s.events.length, 'no event twice');
    const resumed = proxy.requests.filter(
      (r) => r.path.startsWith('/v1/events/stream') && r.answeredBy === 'server' && r.status === 200,
    );
    assert.equal(
      resumed.at(-1)!.headers['last-event-id'],
      seen,
      'the reconnect asked for what follows the last event seen',
    );
    assert.ok(s.opens.length >= 2);
    s.stream.close();
    await s.done;
  });

  test('lastEventId resumes a new stream after a given cursor; breaking out of the loop ends it', async () => {
    const call = await live.incomingCall(0, key.key);
    const s = collect(direct);
    await s.opened;
    await direct.calls.terminate(call.id);
    const ended = await until(() => s.events.find((e) => e.data.id === call.id && e.event === 'call.ended'));
    s.stream.close();
    await s.done;

    assert.ok(
      !s.events.some((e) => e.data.id === call.id && e.event === 'call.ringing'),
      'it rang before that stream connected',
    );

    // A cursor from before the ringing brings it back. (Embedded store: cursors are the events' row numbers.)
    const beforeRinging = String(Number(ended.id) - 2);
    const replayed: StreamEvent[] = [];
    for await (const e of direct.events.stream({ lastEventId: beforeRinging })) {
      replayed.push(e);
      if (e.id === ended.id) {
        break;
      }
    }
    assert.deepEqual(
      replayed.map((e) => [e.event, e.data.id]),
      [
        ['call.ringing', call.id],
        ['call.ended', call.id],
      ],
    );
  });

  test('a key the server refuses ends the iteration with a typed error, without retrying', async () => {
    const bad = new Callgate({ baseUrl: proxy.url, apiKey: 'ps_not_a_key' });
    const from = proxy.requests.length;
    await assert.rejects(
      async () => {
        for await (const _ of bad.events.stream()) {
          /* nothing */
        }
      },
      (error: unknown) => {
        assert.ok(error instanceof CallgateError);
        assert.equal(error.status, 401);
        assert.equal(error.code, 'UNAUTHORIZED');
        return true;
      },
    );
    assert.equal(proxy.requests.length - from, 1);
  });

  test('a 503 before the stream opens is waited out (Retry-After) and the stream then connects', async () => {
    const viaProxy = new Callgate({ baseUrl: proxy.url, apiKey: key.key });
    proxy.failNext(1, { status: 503, headers: { 'retry-after': '0' } }, '/v1/events/stream');
    const s = collect(viaProxy);
    await s.opened;
    const call = await live.incomingCall(0, key.key);
    await until(() => s.events.find((e) => e.data.id === call.id));
    s.stream.close();
    await s.done;
    await direct.calls.terminate(call.id);
  });

  test('with reconnect: false a dropped connection ends the iteration with NETWORK_ERROR', async () => {
    const viaProxy = new Callgate({ baseUrl: proxy.url, apiKey: key.key });
    const s = collect(viaProxy, { reconnect: false });
    await s.opened;
    proxy.dropConnections();
    await assert.rejects(s.done, (error: unknown) => error instanceof CallgateError && error.code === 'NETWORK_ERROR');
  });

  test('aborting the signal ends the iteration quietly', async () => {
    const controller = new AbortController();
    const s = collect(direct, { signal: controller.signal });
    await s.opened;
    controller.abort();
    await s.done;
  });
});
