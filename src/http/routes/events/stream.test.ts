// GET /v1/events/stream: live, scoped, resumable.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, ringingCall } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

interface SseEvent {
  id: string;
  event: string;
  data: Record<string, unknown>;
}

/** A minimal SSE reader over fetch: collects events until stopped. */
function listen(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const events: SseEvent[] = [];
  const ready = fetch(url, { headers, signal: controller.signal }).then(async (res) => {
    if (res.status !== 200) {
      throw new Error(`stream: ${res.status} ${await res.text()}`);
    }
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            return;
          }
          buffer += decoder.decode(value, { stream: true });
          for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const fields = Object.fromEntries(
              block
                .split('\n')
                .filter((l) => !l.startsWith(':'))
                .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
            );
            if (fields.data) {
              events.push({ id: fields.id!, event: fields.event!, data: JSON.parse(fields.data) });
            }
          }
        }
      } catch {
        /* aborted */
      }
    })();
    return res;
  });
  return { events, ready, stop: () => controller.abort() };
}

async function until<T>(check: () => T | undefined, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error('timed out');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const kind of storeKinds()) {
  describe(`event stream [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(() => t.close());

    test("a number key receives its number's call events live, with the webhook payloads", async () => {
      const stream = listen(`${t.baseUrl}/v1/events/stream`, { 'x-api-key': t.numberA.key.key });
      const res = await stream.ready;
      assert.match(String(res.headers.get('content-type')), /^text\/event-stream/);
      try {
        await ringingCall(t, t.numberB);
        const call = await ringingCall(t, t.numberA);
        const ringing = await until(() => stream.events.find((e) => e.data.id === call.id));
        assert.equal(ringing.event, 'call.ringing');
        assert.equal(ringing.data.event, 'call.ringing');
        assert.equal(ringing.data.sequence, 1);
        assert.match(String(ringing.data.eventId), /^evt_/);
        await t.app.inject({
          method: 'POST',
          url: `/v1/calls/${call.id}/terminate`,
          headers: { 'x-api-key': t.numberA.key.key },
        });
        const ended = await until(() => stream.events.find((e) => e.data.id === call.id && e.event === 'call.ended'));
        assert.equal(ended.data.status, 'COMPLETED');
        assert.ok(
          stream.events.every((e) => e.data.numberId === t.numberA.id),
          "never another number's events",
        );
      } finally {
        stream.stop();
      }
    });

    test('a tenant key receives every number of the tenant', async () => {
      const stream = listen(`${t.baseUrl}/v1/events/stream`, { 'x-api-key': t.tenantKey.key });
      await stream.ready;
      try {
        const a = await ringingCall(t, t.numberA);
        const b = await ringingCall(t, t.numberB);
        await until(() => stream.events.find((e) => e.data.id === a.id));
        await until(() => stream.events.find((e) => e.data.id === b.id));
      } finally {
        stream.stop();
      }
    });

    test('Last-Event-ID resumes exactly after the last event seen', async () => {
      const first = listen(`${t.baseUrl}/v1/events/stream`, { 'x-api-key': t.numberA.key.key });
      await first.ready;
      const call = await ringingCall(t, t.numberA);
      const seen = await until(() => first.events.find((e) => e.data.id === call.id));
      first.stop();
      // While nobody listens: the call is answered and hung up.
      const other = await callIn(t, 'ACCEPTED');
      await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/terminate`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      const resumed = listen(`${t.baseUrl}/v1/events/stream`, {
        'x-api-key': t.numberA.key.key,
        'last-event-id': seen.id,
      });
      await resumed.ready;
      try {
        await until(() => resumed.events.find((e) => e.data.id === call.id && e.event === 'call.ended'));
        const mine = resumed.events.filter((e) => e.data.id === other.id).map((e) => e.event);
        assert.deepEqual(mine, ['call.ringing', 'call.connected']);
        assert.ok(!resumed.events.some((e) => e.id === seen.id), 'the event already seen is not sent again');
      } finally {
        resumed.stop();
      }
    });

    test('no key → 401; a malformed Last-Event-ID → 400', async () => {
      assert.equal((await fetch(`${t.baseUrl}/v1/events/stream`)).status, 401);
      const bad = await fetch(`${t.baseUrl}/v1/events/stream`, {
        headers: { 'x-api-key': t.numberA.key.key, 'last-event-id': 'drop table' },
      });
      assert.equal(bad.status, 400);
      // Digits past what the store's cursor types hold: refused, not a stream whose every read fails.
      const huge = kind === 'postgres' ? '1-9999999999999999999' : '9999999999999999';
      const tooBig = await fetch(`${t.baseUrl}/v1/events/stream`, {
        headers: { 'x-api-key': t.numberA.key.key, 'last-event-id': huge },
      });
      assert.equal(tooBig.status, 400);
    });
  });
}
