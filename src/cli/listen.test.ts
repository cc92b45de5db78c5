// `callgate listen --forward-to` as a child process against a server process: a terminate reaches the local URL
// as a signed call.ended within a second, verifiable with the npm standardwebhooks library, and a dropped stream
// resumes without losing or repeating events.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { Callgate } from '../../packages/sdk/src/index.ts';
import { CANNED_ANSWER_SDP } from '../../test/fakes/meta-graph.ts';
import { type ReceivedRequest, startWebhookReceiver, type WebhookReceiver } from '../../test/fakes/webhook-receiver.ts';
import { type CliProcess, runCli, startCli } from '../../test/helpers/cli-process.ts';
import { type FaultProxy, startFaultProxy } from '../../test/helpers/fault-proxy.ts';
import { type IssuedKey, type LiveServer, startLiveServer } from '../../test/helpers/live-server.ts';
import { generateWebhookSecret } from '../webhooks/signing.ts';

function stringHeaders(r: ReceivedRequest): Record<string, string> {
  return Object.fromEntries(Object.entries(r.headers).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

describe('callgate listen --forward-to', () => {
  let live: LiveServer;
  let key: IssuedKey;
  let client: Callgate;
  let receiver: WebhookReceiver;
  let proxy: FaultProxy;
  const running: CliProcess[] = [];

  const listen = (args: string[], url = live.url) => {
    const cli = startCli(['listen', '--json', '--url', url, '--key', key.key, ...args], {
      CALLGATE_URL: 'http://127.0.0.1:1',
    });
    running.push(cli);
    return cli;
  };

  before(async () => {
    live = await startLiveServer();
    receiver = await startWebhookReceiver('/hooks/callgate');
    proxy = await startFaultProxy(live.url);
    const tenant = new Callgate({ baseUrl: live.url, apiKey: live.tenantKey.key });
    key = (await tenant.numbers.create(live.numberInput(0))).apiKey;
    client = new Callgate({ baseUrl: live.url, apiKey: key.key });
  });
  after(async () => {
    for (const cli of running) {
      await cli.stop();
    }
    await proxy.close();
    await receiver.close();
    await live.close();
  });

  test('a terminate reaches the local URL as a call.ended within a second, signed so standardwebhooks verifies it', async () => {
    const cli = listen(['--forward-to', receiver.url]);
    const ready = JSON.parse(await cli.waitForLine((l) => l.includes('"ready"'), 10_000, 'listen to connect'));
    assert.equal(ready.generatedSecret, true);
    assert.match(ready.secret, /^whsec_/, 'the generated secret is printed');

    const call = await live.incomingCall(0, key.key);
    await client.calls.accept(call.id, { sdp: CANNED_ANSWER_SDP });
    const terminated = Date.now();
    await client.calls.terminate(call.id);
    const isEnded = (r: ReceivedRequest) => r.body?.id === call.id && r.body?.event === 'call.ended';
    await receiver.waitFor((rs) => rs.some(isEnded), 1000, 'call.ended within a second of the terminate');
    const delivery = receiver.requests.find(isEnded)!;
    assert.ok(delivery.at - terminated < 1000, `arrived ${delivery.at - terminated} ms after the terminate`);

    const headers = stringHeaders(delivery);
    const payload = new Webhook(ready.secret).verify(delivery.rawBody, headers) as Record<string, unknown>;
    assert.equal(payload.event, 'call.ended');
    assert.equal(payload.status, 'COMPLETED');
    assert.equal(payload.endedBy, 'BUSINESS');
    assert.equal(headers['webhook-id'], payload.eventId, "webhook-id is the eventId, as the server's worker sends it");
    assert.ok(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000) < 5);
    assert.equal(headers['content-type'], 'application/json');
    assert.equal(delivery.path, '/hooks/callgate');
    assert.throws(
      () => new Webhook(generateWebhookSecret()).verify(delivery.rawBody, headers),
      'another secret does not verify',
    );

    // Everything of the call came through, in order, and listen reported each delivery.
    assert.deepEqual(
      receiver.requests.filter((r) => r.body?.id === call.id).map((r) => r.body.event),
      ['call.ringing', 'call.connected', 'call.ended'],
    );
    const reported = await cli.waitForLine((l) => l.includes('"forwarded"') && l.includes(String(payload.eventId)));
    assert.equal(JSON.parse(reported).status, 200);
    assert.equal(await cli.stop('SIGINT'), 0, 'Ctrl-C stops it cleanly');
  });

  test('--secret signs with the given secret and --events forwards only those', async () => {
    const secret = generateWebhookSecret();
    const cli = listen(['--forward-to', receiver.url, '--secret', secret, '--events', 'call.ended']);
    const ready = JSON.parse(await cli.waitForLine((l) => l.includes('"ready"'), 10_000));
    assert.equal(ready.generatedSecret, false);
    const call = await live.incomingCall(0, key.key);
    await client.calls.terminate(call.id);
    await receiver.waitFor((rs) => rs.some((r) => r.body?.id === call.id && r.body?.event === 'call.ended'), 3000);
    const mine = receiver.requests.filter((r) => r.body?.id === call.id);
    assert.deepEqual(
      mine.map((r) => r.body.event),
      ['call.ended'],
      'call.ringing was filtered out',
    );
    assert.equal((new Webhook(secret).verify(mine[0]!.rawBody, stringHeaders(mine[0]!)) as { id: string }).id, call.id);
    await cli.stop();
  });

  test('after the stream drops it resumes with Last-Event-ID: events of the outage arrive once each', async () => {
    const cli = listen(['--forward-to', receiver.url], proxy.url);
    await cli.waitForLine((l) => l.includes('"ready"'), 10_000);
    const first = await live.incomingCall(0, key.key);
    await receiver.waitFor((rs) => rs.some((r) => r.body?.id === first.id), 3000, 'the first call');

    proxy.setRefusing(true);
    await client.calls.terminate(first.id);
    const second = await live.incomingCall(0, key.key);
    await client.calls.terminate(second.id);
    await new Promise((r) => setTimeout(r, 300));
    proxy.setRefusing(false);

    await cli.waitForLine((l) => l.includes('"reconnected"'), 10_000, 'listen to reconnect');
    await receiver.waitFor(
      (rs) => rs.some((r) => r.body?.id === second.id && r.body?.event === 'call.ended'),
      5000,
      'the events of the outage',
    );
    for (const call of [first, second]) {
      const events = receiver.requests.filter((r) => r.body?.id === call.id).map((r) => r.body.event);
      assert.deepEqual(events, ['call.ringing', 'call.ended'], `${call.id}: each event once, in order`);
    }
    const resumedFrom = proxy.requests
      .filter((r) => r.path.startsWith('/v1/events/stream') && r.status === 200)
      .at(-1)!;
    assert.match(String(resumedFrom.headers['last-event-id']), /^\d+$/);
    await cli.stop();
  });

  test('a receiver that fails is reported and listening goes on', async () => {
    const cli = listen(['--forward-to', receiver.url]);
    await cli.waitForLine((l) => l.includes('"ready"'), 10_000);
    receiver.status(500);
    const call = await live.incomingCall(0, key.key);
    const failed = JSON.parse(await cli.waitForLine((l) => l.includes('"failed"') && l.includes(call.id), 3000));
    assert.equal(failed.status, 500);
    assert.equal(failed.resendWith, null, 'the first event of a start from now has no cursor before it');
    // A second refused event names the cursor that sends it again: a new listen started there delivers it.
    await client.calls.terminate(call.id);
    const ended = JSON.parse(
      await cli.waitForLine((l) => l.includes('"failed"') && l.includes('call.ended') && l.includes(call.id), 3000),
    );
    assert.equal(ended.resendWith, failed.cursor);
    await cli.stop();
    receiver.ok();
    const again = listen(['--forward-to', receiver.url, '--last-event-id', ended.resendWith]);
    await again.waitForLine(
      (l) => l.includes('"forwarded"') && l.includes('call.ended') && l.includes(call.id),
      10_000,
    );
    await receiver.waitFor(
      (rs) => rs.filter((r) => r.body?.id === call.id && r.body?.event === 'call.ended').length === 2,
      3000,
      'the refused call.ended, sent again',
    );
    await again.stop();
  });

  test('a refused event is shown with the --last-event-id that sends it again', async () => {
    const cli = startCli(['listen', '--url', live.url, '--key', key.key, '--forward-to', receiver.url], {});
    running.push(cli);
    await cli.waitForLine((l) => l.startsWith('Ready:'), 10_000);
    receiver.status(500);
    const call = await live.incomingCall(0, key.key);
    await cli.waitForLine((l) => l.startsWith('✗ call.ringing') && l.endsWith('(not resent)'), 3000);
    await client.calls.terminate(call.id);
    await cli.waitForLine((l) => /^✗ call\.ended .*\(not resent; --last-event-id \S+ sends it again\)$/.test(l), 3000);
    receiver.ok();
    await cli.stop();
  });

  test('usage mistakes exit 2 without connecting', async () => {
    const noTarget = await runCli(['listen', '--key', key.key], {});
    assert.equal(noTarget.code, 2);
    assert.match(noTarget.stderr, /--forward-to/);
    const badSecret = await runCli(['listen', '--key', key.key, '--forward-to', receiver.url, '--secret', 'nope'], {});
    assert.equal(badSecret.code, 2);
    assert.equal(badSecret.stdout, '');
  });
});
