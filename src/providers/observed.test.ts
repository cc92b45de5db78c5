// What an operator reads when a provider fails: one warn line where it happens, with the provider, the action,
// the call, Meta's HTTP status and error code, and how long it took; and one line per API request, not two.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../../test/helpers/build-test-app.ts';
import { callIn } from '../../test/helpers/calls.ts';
import { LEVEL, type LogSink, logSink } from '../../test/helpers/log-sink.ts';
import { createMetrics, type Metrics } from '../metrics.ts';
import { observeProvider, type ProviderObservation } from './observed.ts';
import { failure } from './types.ts';

describe('provider failures in the logs and metrics', () => {
  let t: TestApp;
  let sink: LogSink;
  let metrics: Metrics;
  before(async () => {
    sink = logSink();
    metrics = createMetrics();
    t = await buildTestApp('sqlite', { logger: sink.logger, metrics });
  });
  after(() => t.close());

  test('a terminate that Meta answers 503 is a 502 with a warn line naming provider, call, status, code, duration', async () => {
    const call = await callIn(t, 'ACCEPTED');
    // The adapter retries a down terminate once: both tries fail.
    t.fake.inject({ action: 'terminate', times: 2, status: 503, error: { code: 2, message: 'Service unavailable' } });
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/calls/${call.id}/terminate`,
      headers: { 'x-api-key': t.numberA.key.key, 'x-request-id': 'req-terminate-502' },
    });
    assert.equal(res.statusCode, 502);

    const [line, ...more] = sink.find(/^provider META endCall failed/);
    assert.equal(more.length, 0, 'one line for the one failed action');
    assert.equal(line?.level, LEVEL.warn);
    assert.equal(line?.msg, 'provider META endCall failed: PROVIDER_DOWN (HTTP 503)');
    assert.equal(line?.provider, 'META');
    assert.equal(line?.callId, call.id);
    assert.equal(line?.numberId, t.numberA.id);
    assert.equal(line?.httpStatus, 503);
    assert.equal(line?.providerCode, 2, "Meta's error code");
    assert.equal(typeof line?.durationMs, 'number');

    // One line for the request, at warn for a 5xx, with the route and status.
    const requestLines = sink.lines.filter((l) => l.reqId === 'req-terminate-502');
    const answered = requestLines.filter((l) => /^POST /.test(l.msg));
    assert.deepEqual(
      answered.map((l) => [l.msg, l.level]),
      [['POST /v1/calls/:callId/terminate 502', LEVEL.warn]],
    );
    assert.equal(
      sink.lines.some((l) => l.msg === 'incoming request' || l.msg === 'request completed'),
      false,
      "Fastify's two lines per request are off",
    );

    const counted = await metrics.registry.getSingleMetricAsString('callgate_provider_requests_total');
    assert.match(
      counted,
      /callgate_provider_requests_total\{provider="META",action="endCall",outcome="provider_down"\} 1$/m,
    );
    assert.match(counted, /callgate_provider_requests_total\{provider="META",action="accept",outcome="ok"\} 1$/m);
  });

  test('a call the provider had already ended is not a failure worth a warning', async () => {
    const call = await callIn(t, 'ACCEPTED');
    const before = sink.find(/^provider /).length;
    await t.fake.userHangsUp(call.externalCallId);
    t.fake.inject({ action: 'terminate', times: 1, status: 400, error: { code: 138006 } });
    await eventually(async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/terminate`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      return res.statusCode === 200 ? res : null;
    });
    assert.equal(sink.find(/^provider /).length, before);
  });
});

describe('observeProvider', () => {
  class Adapter {
    #calls = 0;
    capability(): string {
      return 'present';
    }
    async endCall(_number: { id: string }, _call: { id: string }) {
      this.#calls += 1;
      return this.#calls === 1
        ? failure('PROVIDER_DOWN', 'down', 2, { httpStatus: 503 })
        : { ok: true, value: undefined };
    }
    async broken(): Promise<never> {
      throw new Error('socket hang up');
    }
  }

  test('times and reports each request; synchronous helpers and private state work as before', async () => {
    const seen: ProviderObservation[] = [];
    const adapter = observeProvider('META', (o) => seen.push(o), new Adapter());
    assert.equal(adapter.capability(), 'present', 'a synchronous method answers synchronously');
    const first = await adapter.endCall({ id: 'num_1' }, { id: 'call_1' });
    assert.equal(first.ok, false);
    assert.equal((await adapter.endCall({ id: 'num_1' }, { id: 'call_1' })).ok, true);
    await assert.rejects(adapter.broken(), /socket hang up/);
    assert.deepEqual(
      seen.map((o) => [o.action, o.callId, o.numberId, o.failure?.category ?? null, o.exception !== undefined]),
      [
        ['endCall', 'call_1', 'num_1', 'PROVIDER_DOWN', false],
        ['endCall', 'call_1', 'num_1', null, false],
        ['broken', null, null, null, true],
      ],
    );
    assert.ok(seen.every((o) => o.durationMs >= 0 && o.provider === 'META'));
  });
});
