// EVOLUTION_CONFIRM_TIMEOUT_MS (calls-api.md §7, providers-evolution-go.md §2.4): a reject whose 200 the server
// never follows with an end event is reported once the timeout passes; one it confirms in time is not.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { addWebNumber, ringingWebCall, type WebNumber } from '../../../../test/helpers/evolution.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { loadConfig } from '../../../config.ts';
import { createLogger } from '../../../logger.ts';

// Long enough for the end event's webhook to be applied within it on a slow or busy machine (at 400 ms the
// "confirmed in time" case raced its own webhook), short enough to wait out.
const CONFIRM_TIMEOUT_MS = 2000;

for (const kind of storeKinds()) {
  describe(`web numbers: EVOLUTION_CONFIRM_TIMEOUT_MS [${kind}]`, () => {
    let t: TestApp;
    let web: WebNumber;
    const logs: Record<string, unknown>[] = [];
    before(async () => {
      const sink = new Writable({
        write(chunk, _enc, done) {
          logs.push(JSON.parse(String(chunk)));
          done();
        },
      });
      t = await buildTestApp(kind, {
        env: { EVOLUTION_CONFIRM_TIMEOUT_MS: String(CONFIRM_TIMEOUT_MS) },
        logger: createLogger('warn', sink),
      });
      web = await addWebNumber(t, 'on');
    });
    after(async () => {
      await web.fake.close();
      await t.close();
    });

    const timeline = async (callId: string) =>
      (await t.app.inject({ url: `/v1/calls/${callId}/events`, headers: { 'x-api-key': web.key.key } })).json()
        .events as { source: string; type: string; detail: Record<string, unknown> }[];
    const reject = async (callId: string) => {
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${callId}/reject`,
        headers: { 'x-api-key': web.key.key },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().providerConfirmed, false);
    };

    test('EVOLUTION_CONFIRM_TIMEOUT_MS is read; its default is the spec’s 15 s', () => {
      assert.equal(t.config.evolutionConfirmTimeoutMs, CONFIRM_TIMEOUT_MS);
      assert.equal(loadConfig({}).evolutionConfirmTimeoutMs, 15_000);
    });

    test('no end event within the timeout: a timeline line and a warning, the call stays REJECTED', async () => {
      const call = await ringingWebCall(t, web);
      web.fake.setEmitDefaults({ hold: true });
      try {
        await reject(call.id);
        const entry = await eventually(
          async () => (await timeline(call.id)).find((e) => e.type === 'confirm-timeout') ?? null,
          CONFIRM_TIMEOUT_MS + 8000,
          'the confirm-timeout entry',
        );
        assert.equal(entry.source, 'system');
        assert.deepEqual(entry.detail, {
          action: 'reject',
          providerConfirmed: false,
          confirmTimeoutMs: CONFIRM_TIMEOUT_MS,
        });
        const after = await t.app.inject({ url: `/v1/calls/${call.id}`, headers: { 'x-api-key': web.key.key } });
        assert.equal(after.json().status, 'REJECTED');
        const warning = logs.find((l) => l.callId === call.id && l.action === 'reject');
        assert.ok(warning, JSON.stringify(logs));
        assert.equal(warning.level, 40);
        assert.match(String(warning.msg), /did not confirm the reject/);
      } finally {
        web.fake.setEmitDefaults({});
        await web.fake.releaseHeld();
        await web.fake.flush();
      }
    });

    test('an end event within the timeout confirms it: nothing is reported', async () => {
      const call = await ringingWebCall(t, web);
      await reject(call.id);
      await web.fake.flush();
      await eventually(
        async () =>
          (await timeline(call.id)).find((e) => e.type === 'reject' && e.detail.providerConfirmed === true) ?? null,
        3000,
        'the reject to be confirmed',
      );
      await new Promise((r) => setTimeout(r, CONFIRM_TIMEOUT_MS + 300));
      assert.equal((await timeline(call.id)).filter((e) => e.type === 'confirm-timeout').length, 0);
      assert.equal(logs.filter((l) => l.callId === call.id && l.action !== undefined).length, 0);
    });
  });
}
