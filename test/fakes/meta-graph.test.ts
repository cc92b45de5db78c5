import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import type { Json } from '../helpers/json.ts';
import type { FakeMeta, FakeMetaNumber, FakeMetaOptions } from './meta-graph.ts';
import { CANNED_ANSWER_SDP, CANNED_OFFER_SDP, escapeNonAscii, signMetaBody, startFakeMeta } from './meta-graph.ts';

// ───────────── fixtures ─────────────

const NUM: FakeMetaNumber = {
  phoneNumberId: '110200345567891',
  displayPhoneNumber: '551140040000',
  wabaId: '102290129340398',
  accessToken: 'tok_main',
  appSecret: 'secret_main',
};
const SIP_NUM: FakeMetaNumber = {
  ...NUM,
  phoneNumberId: '110200345567892',
  accessToken: 'tok_sip',
  appSecret: 'secret_sip',
  sip: true,
};
const OFF_NUM: FakeMetaNumber = {
  ...NUM,
  phoneNumberId: '110200345567893',
  accessToken: 'tok_off',
  appSecret: 'secret_off',
  callingEnabled: false,
};
const USER = '5511987654321';
const USER2 = '5511912345678';

interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
  body: Json;
}

/** A tiny webhook receiver; `statuses` is consumed one per POST (default 200). */
async function startReceiver() {
  const got: Received[] = [];
  const statuses: number[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      got.push({ headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/providers/meta/webhook`;
  return {
    url,
    got,
    statuses,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

type Ctx = { fake: FakeMeta; rx: Awaited<ReturnType<typeof startReceiver>> };

async function withFake(opts: Partial<FakeMetaOptions>, body: (ctx: Ctx) => Promise<void>): Promise<void> {
  const rx = await startReceiver();
  const fake = await startFakeMeta({
    numbers: [NUM, SIP_NUM, OFF_NUM],
    webhookUrl: rx.url,
    webhookRetryScheduleMs: [0, 20, 40],
    ...opts,
  });
  try {
    await body({ fake, rx });
  } finally {
    await fake.close();
    await rx.close();
  }
}

async function graph(
  fake: FakeMeta,
  path: string,
  o: { method?: string; body?: unknown; token?: string | null; signal?: AbortSignal; contentType?: string | null } = {},
): Promise<{ status: number; body: Json; text: string }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (o.contentType !== null) {
    headers['content-type'] = o.contentType ?? 'application/json';
  }
  const token = o.token === undefined ? NUM.accessToken : o.token;
  if (token !== null) {
    headers.authorization = `Bearer ${token}`;
  }
  const res = await fetch(fake.baseUrl + path, {
    method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
    headers,
    body: o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body),
    signal: o.signal,
  });
  const text = await res.text();
  let body: Json;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

function calls(fake: FakeMeta, body: unknown, o: { pnid?: string; token?: string | null; signal?: AbortSignal } = {}) {
  return graph(fake, `/v23.0/${o.pnid ?? NUM.phoneNumberId}/calls`, { body, token: o.token, signal: o.signal });
}

const accept = (call_id: string, sdp = CANNED_ANSWER_SDP) => ({
  messaging_product: 'whatsapp',
  call_id,
  action: 'accept',
  session: { sdp_type: 'answer', sdp },
});
const preAccept = (call_id: string, sdp = CANNED_ANSWER_SDP) => ({ ...accept(call_id, sdp), action: 'pre_accept' });
const reject = (call_id: string) => ({ messaging_product: 'whatsapp', call_id, action: 'reject' });
const terminate = (call_id: string) => ({ messaging_product: 'whatsapp', call_id, action: 'terminate' });
const connect = (to = USER, extra: Record<string, unknown> = {}) => ({
  messaging_product: 'whatsapp',
  to,
  action: 'connect',
  session: { sdp_type: 'offer', sdp: CANNED_OFFER_SDP },
  ...extra,
});

function assertGraphError(r: { status: number; body: Json }, status: number, code: number, details?: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.error.code, code);
  assert.match(r.body.error.message, new RegExp(`^\\(#${code}\\) `));
  assert.equal(typeof r.body.error.type, 'string');
  assert.equal(typeof r.body.error.fbtrace_id, 'string');
  assert.equal(r.body.error.error_data.messaging_product, 'whatsapp');
  if (details) {
    assert.match(r.body.error.error_data.details, details);
  }
}

/** The single call event of a received webhook. */
const callEvent = (w: Received) => w.body.entry[0].changes[0].value.calls[0];

// ───────────── pure helpers ─────────────

describe('signMetaBody / escapeNonAscii', () => {
  test('§3.2 test vectors', () => {
    assert.equal(
      signMetaBody('{"object":"whatsapp_business_account","entry":[]}', 'test_app_secret'),
      'sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756',
    );
    const escaped = '{"name":"Jos\\u00e9"}';
    assert.equal(Buffer.byteLength(escaped), 20);
    assert.equal(
      signMetaBody(escaped, 'test_app_secret'),
      'sha256=8fc1b281882858db90f334faa0949dec35aec61014d90994cdf59bfa52e7c7e6',
    );
    assert.equal(
      signMetaBody('{"name":"José"}', 'test_app_secret'),
      'sha256=e6d8fbc7b3e6d5136d7e593e7227461113b558575647f2084728ecac6fc09f96',
    );
    assert.equal(
      signMetaBody(Buffer.from('{"name":"José"}'), 'test_app_secret'),
      signMetaBody('{"name":"José"}', 'test_app_secret'),
    );
  });

  test('escapes every char above U+007E as lowercase \\uXXXX, astral chars as surrogate pairs', () => {
    assert.equal(escapeNonAscii(JSON.stringify({ name: 'José' })), '{"name":"Jos\\u00e9"}');
    assert.equal(escapeNonAscii(JSON.stringify('😀~\u007f')), '"\\ud83d\\ude00~\\u007f"');
    const obj = { n: 'Zoë 日本 😀', plain: 'abc' };
    assert.deepEqual(JSON.parse(escapeNonAscii(JSON.stringify(obj))), obj);
  });

  test('canned SDPs use CRLF and differ in o= and a=setup', () => {
    for (const s of [CANNED_OFFER_SDP, CANNED_ANSWER_SDP]) {
      assert.ok(s.startsWith('v=0\r\n'));
      assert.doesNotMatch(s, /[^\r]\n/);
      assert.ok(s.endsWith('\r\n'));
    }
    assert.match(CANNED_OFFER_SDP, /a=setup:actpass/);
    assert.match(CANNED_ANSWER_SDP, /a=setup:active/);
  });
});

// ───────────── §5.2 validation ─────────────

describe('request validation (§5.2)', () => {
  test('token, then unknown number, then body, then sip / calling disabled', async () => {
    await withFake({}, async ({ fake }) => {
      assertGraphError(await calls(fake, reject('wacid.x'), { token: null }), 401, 190);
      assertGraphError(await calls(fake, reject('wacid.x'), { token: SIP_NUM.accessToken }), 401, 190); // another number's token
      const unknown = await calls(fake, 'not json', { pnid: '999' });
      assertGraphError(unknown, 400, 100);
      assert.equal(unknown.body.error.type, 'GraphMethodException');
      assert.equal(unknown.body.error.error_subcode, 33);

      assertGraphError(await calls(fake, 'not json'), 400, 100, /JSON object/);
      assertGraphError(
        await calls(fake, { ...reject('wacid.x'), messaging_product: 'sms' }),
        400,
        100,
        /messaging_product/,
      );
      assertGraphError(await calls(fake, { ...reject('wacid.x'), action: 'media_update' }), 400, 100, /Unknown action/);
      assertGraphError(await calls(fake, { messaging_product: 'whatsapp', action: 'terminate' }), 400, 100, /call_id/);
      assertGraphError(await calls(fake, { ...connect(), to: undefined }), 400, 100, /to/);
      assertGraphError(await calls(fake, { ...connect(), session: undefined }), 400, 100, /session/);
      assertGraphError(
        await calls(fake, { ...connect(), session: { sdp_type: 'answer', sdp: CANNED_OFFER_SDP } }),
        400,
        100,
        /sdp_type/,
      );
      assertGraphError(
        await calls(fake, { ...connect(), session: { sdp_type: 'offer', sdp: 'o=- 1\r\nv=0\r\n' } }),
        400,
        100,
        /v=0/,
      );
      assertGraphError(
        await calls(fake, connect(USER, { biz_opaque_callback_data: 'x'.repeat(513) })),
        400,
        100,
        /512/,
      );
      assert.deepEqual(fake.violations, []);

      assertGraphError(
        await calls(fake, {
          ...connect(),
          session: { sdp_type: 'offer', sdp: CANNED_OFFER_SDP.replace(/\r\n/g, '\n') },
        }),
        400,
        100,
        /CRLF/,
      );
      assert.equal(fake.violations.length, 1);
      assert.match(fake.violations[0]!, /CRLF/);

      assertGraphError(
        await calls(fake, reject('wacid.x'), { pnid: SIP_NUM.phoneNumberId, token: SIP_NUM.accessToken }),
        400,
        131055,
      );
      assertGraphError(
        await calls(fake, reject('wacid.x'), { pnid: OFF_NUM.phoneNumberId, token: OFF_NUM.accessToken }),
        401,
        138000,
      );
      // Body errors win over the number's configuration.
      assertGraphError(
        await calls(fake, { action: 'reject' }, { pnid: SIP_NUM.phoneNumberId, token: SIP_NUM.accessToken }),
        400,
        100,
      );
    });
  });

  test('a POST without Content-Type: application/json is a violation (§1.1)', async () => {
    await withFake({}, async ({ fake }) => {
      const wacid = await fake.incomingCall({ from: USER });
      const path = `/v23.0/${NUM.phoneNumberId}/calls`;
      await graph(fake, path, { body: preAccept(wacid), contentType: 'application/json; charset=utf-8' });
      assert.deepEqual(fake.violations, []);
      await graph(fake, path, { body: accept(wacid), contentType: null });
      await graph(fake, path, { body: terminate(wacid), contentType: 'text/plain' });
      assert.equal(fake.violations.length, 2, fake.violations.join('\n'));
      assert.match(fake.violations[0]!, /without Content-Type: application\/json/);
    });
  });

  test('a legacy connection.webrtc field in a request is a violation', async () => {
    await withFake({}, async ({ fake }) => {
      const wacid = await fake.incomingCall({ from: USER });
      const r = await calls(fake, { ...accept(wacid), connection: { webrtc: { sdp: '{}' } } });
      assert.equal(r.status, 200);
      assert.equal(fake.violations.length, 1);
      assert.match(fake.violations[0]!, /connection\.webrtc/);
    });
  });

  test('every request is recorded with its version, number, edge and response', async () => {
    await withFake({}, async ({ fake }) => {
      await calls(fake, reject('wacid.nope'), { token: null });
      await graph(fake, `/v19.0/${NUM.phoneNumberId}/settings`);
      assert.equal(fake.requests.length, 2);
      const [a, b] = fake.requests;
      assert.equal(a!.method, 'POST');
      assert.equal(a!.version, 'v23.0');
      assert.equal(a!.phoneNumberId, NUM.phoneNumberId);
      assert.equal(a!.edge, 'calls');
      assert.equal(a!.status, 401);
      assert.equal(a!.body.call_id, 'wacid.nope');
      assert.equal(a!.response.error.code, 190);
      assert.equal(b!.version, 'v19.0');
      assert.equal(b!.edge, 'settings');
      assert.equal(b!.status, 200);
      assert.equal(b!.headers.authorization, `Bearer ${NUM.accessToken}`);
    });
  });
});

// ───────────── §5.3 state machine ─────────────

describe('UIC state machine and terminate webhooks (§5.3)', () => {
  test('incoming call: signed connect webhook with contacts, string timestamp and offer SDP', async () => {
    await withFake({ now: () => 1_767_866_400_000 }, async ({ fake, rx }) => {
      const wacid = await fake.incomingCall({ from: USER, name: 'José', ctaPayload: 'support-button' });
      assert.match(wacid, /^wacid\.[A-Za-z0-9+/=_-]+$/);
      assert.equal(fake.callState(wacid), 'RINGING');
      assert.equal(rx.got.length, 1);
      const w = rx.got[0]!;
      assert.equal(w.headers['content-type'], 'application/json');
      assert.equal(w.headers['x-hub-signature-256'], signMetaBody(w.raw, NUM.appSecret));
      assert.ok(w.raw.includes('Jos\\u00e9'), 'non-ASCII is escaped on the wire');
      assert.deepEqual(w.body, {
        object: 'whatsapp_business_account',
        entry: [
          {
            id: NUM.wabaId,
            changes: [
              {
                field: 'calls',
                value: {
                  messaging_product: 'whatsapp',
                  metadata: { display_phone_number: NUM.displayPhoneNumber, phone_number_id: NUM.phoneNumberId },
                  contacts: [{ profile: { name: 'José' }, wa_id: USER }],
                  calls: [
                    {
                      id: wacid,
                      from: USER,
                      to: NUM.displayPhoneNumber,
                      event: 'connect',
                      timestamp: '1767866400',
                      direction: 'USER_INITIATED',
                      cta_payload: 'support-button',
                      session: { sdp_type: 'offer', sdp: CANNED_OFFER_SDP },
                    },
                  ],
                },
              },
            ],
          },
        ],
      });
    });
  });

  test('pre_accept → accept (same SDP) → terminate: COMPLETED webhook with times after the response', async () => {
    let clock = 1_767_866_400_000;
    await withFake({ now: () => clock }, async ({ fake, rx }) => {
      const wacid = await fake.incomingCall({ from: USER });
      assert.equal((await calls(fake, preAccept(wacid))).status, 200);
      assert.equal(fake.callState(wacid), 'PRE_ACCEPTED');
      assertGraphError(await calls(fake, preAccept(wacid)), 400, 100); // at most once
      assertGraphError(
        await calls(fake, accept(wacid, CANNED_OFFER_SDP.replace('actpass', 'active'))),
        400,
        100,
        /pre_accept/,
      );
      assert.equal(fake.callState(wacid), 'PRE_ACCEPTED');
      clock += 5_000;
      const acc = await calls(fake, { ...accept(wacid), biz_opaque_callback_data: 'ticket-7' });
      assert.equal(acc.status, 200);
      assert.deepEqual(acc.body, { messaging_product: 'whatsapp', success: true });
      assert.equal(fake.callState(wacid), 'ACTIVE');
      assertGraphError(await calls(fake, accept(wacid)), 400, 100);
      clock += 180_000;
      assert.equal((await calls(fake, terminate(wacid))).status, 200);
      assert.equal(fake.callState(wacid), 'ENDED');
      await fake.flush();
      assert.equal(rx.got.length, 2);
      const ev = callEvent(rx.got[1]!);
      assert.deepEqual(ev, {
        id: wacid,
        from: USER,
        to: NUM.displayPhoneNumber,
        event: 'terminate',
        timestamp: '1767866585',
        direction: 'USER_INITIATED',
        biz_opaque_callback_data: 'ticket-7',
        status: 'COMPLETED',
        start_time: '1767866405',
        end_time: '1767866585',
        duration: 180,
      });
      assert.deepEqual(rx.got[1]!.body.entry[0].changes[0].value.contacts, [
        { profile: { name: 'WhatsApp User' }, wa_id: USER },
      ]);
      // Already ended → 400/100, and no second webhook.
      assertGraphError(await calls(fake, terminate(wacid)), 400, 100, /already terminated/);
      assertGraphError(await calls(fake, reject('wacid.unknown')), 400, 100, /Invalid call id/);
      await fake.flush();
      assert.equal(rx.got.length, 2);
      assert.equal(fake.countRequests({ action: 'terminate', call_id: wacid }), 2);
      assert.equal(fake.countRequests({ action: 'accept' }), 3);
      assert.equal(fake.countRequests({ edge: 'calls' }), 8);
      assert.deepEqual(fake.violations, []);
    });
  });

  test('reject on a ringing call: FAILED webhook without times, arriving after the HTTP response', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const wacid = await fake.incomingCall({ from: USER });
      let webhooksWhenAnswered = -1;
      const r = await calls(fake, reject(wacid)).then((x) => {
        webhooksWhenAnswered = rx.got.length;
        return x;
      });
      assert.equal(r.status, 200);
      assert.equal(webhooksWhenAnswered, 1, 'terminate webhook must not precede the response');
      await fake.flush();
      assert.equal(rx.got.length, 2);
      const ev = callEvent(rx.got[1]!);
      assert.equal(ev.event, 'terminate');
      assert.equal(ev.status, 'FAILED');
      assert.equal(ev.start_time, undefined);
      assert.equal(ev.duration, undefined);
      assertGraphError(await calls(fake, reject(wacid)), 400, 100, /already terminated/);
    });
  });

  test('terminate on a ringing UIC is refused with a violation; reject on an accepted call too', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const ringing = await fake.incomingCall({ from: USER });
      assertGraphError(await calls(fake, terminate(ringing)), 400, 100);
      assert.equal(fake.callState(ringing), 'RINGING');
      assert.match(fake.violations[0]!, /terminate on ringing/);

      const other = await fake.incomingCall({ from: USER2 });
      await calls(fake, accept(other));
      assertGraphError(await calls(fake, reject(other)), 400, 100);
      assert.equal(fake.callState(other), 'ACTIVE');
      assert.match(fake.violations[1]!, /reject on USER_INITIATED/);
      await fake.flush();
      assert.equal(rx.got.length, 2, 'no terminate webhook for refused actions');
    });
  });

  test('lenientTerminate, alreadyEnded:success and shortSuccess modes', async () => {
    await withFake({ lenientTerminate: true, alreadyEnded: 'success', shortSuccess: true }, async ({ fake, rx }) => {
      const wacid = await fake.incomingCall({ from: USER });
      const r = await calls(fake, terminate(wacid));
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { success: true });
      assert.equal(fake.callState(wacid), 'ENDED');
      assert.equal(fake.violations.length, 1, 'the violation is still recorded');
      assert.deepEqual((await calls(fake, terminate(wacid))).body, { success: true });
      assert.deepEqual((await calls(fake, reject('wacid.unknown'))).body, { success: true });
      await fake.flush();
      assert.equal(rx.got.length, 2);
      assert.equal(callEvent(rx.got[1]!).status, 'FAILED');
    });
  });

  test('user hangs up a ringing call (missed) and an answered call (completed); no double webhook', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const missed = await fake.incomingCall({ from: USER });
      await fake.userHangsUp(missed);
      assert.equal(callEvent(rx.got[1]!).status, 'FAILED');
      const answered = await fake.incomingCall({ from: USER2 });
      await calls(fake, accept(answered));
      await fake.userHangsUp(answered);
      assert.equal(callEvent(rx.got[3]!).status, 'COMPLETED');
      assert.equal(typeof callEvent(rx.got[3]!).duration, 'number');
      await fake.userHangsUp(answered);
      assertGraphError(await calls(fake, terminate(answered)), 400, 100);
      await fake.flush();
      assert.equal(rx.got.length, 4);
    });
  });

  test('UIC ring window: the timer ends an unanswered call with a FAILED terminate', async () => {
    await withFake({ uicRingTimeoutMs: 30 }, async ({ fake, rx }) => {
      const wacid = await fake.incomingCall({ from: USER });
      await new Promise((r) => setTimeout(r, 80));
      await fake.flush();
      assert.equal(fake.callState(wacid), 'ENDED');
      assert.equal(callEvent(rx.got[1]!).status, 'FAILED');
      assertGraphError(await calls(fake, accept(wacid)), 400, 100, /already terminated/);
    });
  });

  test('advance() lapses ring windows on the fake clock', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const wacid = await fake.incomingCall({ from: USER });
      fake.advance(44_000);
      assert.equal(fake.callState(wacid), 'RINGING');
      fake.advance(1_000);
      assert.equal(fake.callState(wacid), 'ENDED');
      await fake.flush();
      assert.equal(rx.got.length, 2);
    });
  });

  test('mediaFailure: FAILED terminate with value-level errors[]', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const wacid = await fake.incomingCall({ from: USER });
      await calls(fake, accept(wacid));
      await fake.mediaFailure(wacid, 138021);
      const value = rx.got[1]!.body.entry[0].changes[0].value;
      assert.equal(value.calls[0].status, 'FAILED');
      assert.equal(typeof value.calls[0].start_time, 'string');
      assert.equal(value.errors[0].code, 138021);
      assert.equal(typeof value.errors[0].error_data.details, 'string');
    });
  });

  test('incoming calls over the concurrency limit produce no webhook', async () => {
    await withFake({ maxConcurrentCalls: 1 }, async ({ fake, rx }) => {
      await fake.incomingCall({ from: USER });
      const second = await fake.incomingCall({ from: USER2 });
      assert.equal(fake.callState(second), 'ENDED');
      await fake.flush();
      assert.equal(rx.got.length, 1);
    });
  });
});

// ───────────── BIC ─────────────

describe('BIC connect and user behaviour', () => {
  test('permission required, then connect → connect (answer + legacy) and RINGING webhooks; answer; terminate', async () => {
    let clock = 1_767_870_000_000;
    await withFake({ now: () => clock }, async ({ fake, rx }) => {
      assertGraphError(await calls(fake, connect()), 401, 138006);
      fake.grantPermission(NUM.phoneNumberId, USER, 'temporary');
      const r = await calls(fake, connect(`+${USER}`, { biz_opaque_callback_data: 'order-42' }));
      assert.equal(r.status, 200);
      const wacid = r.body.calls[0].id;
      assert.deepEqual(r.body, { messaging_product: 'whatsapp', calls: [{ id: wacid }] });
      assert.equal(fake.callState(wacid), 'CALLING');
      await fake.flush();
      assert.equal(rx.got.length, 2);
      const c = callEvent(rx.got[0]!);
      assert.equal(c.direction, 'BUSINESS_INITIATED');
      assert.equal(c.biz_opaque_callback_data, 'order-42');
      assert.deepEqual(c.session, { sdp_type: 'answer', sdp: CANNED_ANSWER_SDP });
      assert.deepEqual(JSON.parse(c.connection.webrtc.sdp), { sdp: CANNED_ANSWER_SDP, type: 'answer' });
      assert.equal(rx.got[0]!.body.entry[0].changes[0].value.contacts, undefined);
      const st = rx.got[1]!.body.entry[0].changes[0].value.statuses[0];
      assert.deepEqual(st, {
        id: wacid,
        type: 'call',
        status: 'RINGING',
        timestamp: '1767870000',
        recipient_id: USER,
        biz_opaque_callback_data: 'order-42',
      });

      assertGraphError(await calls(fake, connect(USER, { biz_opaque_callback_data: 'other' })), 400, 138003);
      assertGraphError(await calls(fake, accept(wacid)), 400, 100); // accept is UIC only
      assertGraphError(await calls(fake, reject(wacid)), 400, 100);
      assert.match(fake.violations.at(-1)!, /reject on BUSINESS_INITIATED/);

      clock += 15_000;
      await fake.userAnswers(wacid);
      assert.equal(fake.callState(wacid), 'ACTIVE');
      assert.equal(rx.got[2]!.body.entry[0].changes[0].value.statuses[0].status, 'ACCEPTED');
      clock += 180_000;
      assert.equal((await calls(fake, terminate(wacid))).status, 200);
      await fake.flush();
      const t = callEvent(rx.got[3]!);
      assert.deepEqual(
        [t.status, t.start_time, t.end_time, t.duration],
        ['COMPLETED', '1767870015', '1767870195', 180],
      );
    });
  });

  test('identical connect replayed within 5 s is a violation', async () => {
    await withFake({ requirePermission: false }, async ({ fake }) => {
      assert.equal((await calls(fake, connect())).status, 200);
      assertGraphError(await calls(fake, connect()), 400, 138003);
      assert.match(fake.violations[0]!, /replayed/);
    });
  });

  test('limits: concurrency 138002, initiations 138005, connected per pair 138012 with next time', async () => {
    let clock = 1_767_870_000_000;
    await withFake(
      {
        now: () => clock,
        requirePermission: false,
        maxConcurrentCalls: 1,
        maxInitiationsPerDay: 3,
        maxConnectedPerPairPerDay: 1,
      },
      async ({ fake }) => {
        const first = (await calls(fake, connect(USER))).body.calls[0].id;
        assertGraphError(await calls(fake, connect(USER2)), 429, 138002);
        await fake.userAnswers(first);
        await calls(fake, terminate(first));
        clock += 10_000;
        const r = await calls(fake, connect(USER));
        assertGraphError(r, 400, 138012, /^Next call allowed at 1767956400$/);
        const second = (await calls(fake, connect(USER2))).body.calls[0].id;
        await calls(fake, terminate(second));
        await calls(fake, connect(USER2, { biz_opaque_callback_data: 'x' })).then((x) =>
          calls(fake, terminate(x.body.calls[0].id)),
        );
        assertGraphError(await calls(fake, connect('5511900000000')), 429, 138005);
        assert.deepEqual(fake.violations, []);
      },
    );
  });

  test('userDeclines → REJECTED then FAILED terminate; BIC ring timeout; 4 unanswered revoke the permission', async () => {
    await withFake({ bicRingTimeoutMs: 250 }, async ({ fake, rx }) => {
      fake.grantPermission(NUM.phoneNumberId, USER, 'permanent');
      const declined = (await calls(fake, connect())).body.calls[0].id;
      await fake.flush();
      await fake.userDeclines(declined);
      const kinds = rx.got.slice(2).map((w) => w.body.entry[0].changes[0].value);
      assert.equal(kinds[0].statuses[0].status, 'REJECTED');
      assert.equal(kinds[1].calls[0].status, 'FAILED');
      rx.got.length = 0;
      for (let i = 0; i < 4; i++) {
        const id = (await calls(fake, connect(USER, { biz_opaque_callback_data: `try-${i}` }))).body.calls[0].id;
        // The ring timer ends the call; its webhooks are sent after: wait for the end, then for the sending.
        for (let waited = 0; fake.callState(id) !== 'ENDED' && waited < 5000; waited += 10) {
          await new Promise((r) => setTimeout(r, 10));
        }
        await fake.flush();
        assert.equal(fake.callState(id), 'ENDED');
      }
      // Webhooks of different calls may arrive interleaved: look for the reply, not at the last one.
      const replies = rx.got.map((w) => w.body.entry[0].changes[0]).filter((c) => c.field === 'messages');
      assert.equal(replies.length, 1, 'one automatic permission reply');
      const last = replies[0];
      const reply = last.value.messages[0];
      assert.equal(reply.context, undefined);
      assert.deepEqual(reply.interactive.call_permission_reply, {
        response: 'reject',
        is_permanent: false,
        response_source: 'automatic',
      });
      assertGraphError(await calls(fake, connect(USER, { biz_opaque_callback_data: 'after' })), 401, 138006);
    });
  });
});

// ───────────── §5.5 injection ─────────────

describe('failure injection (§5.5)', () => {
  test('hang: the client times out, the call stays live, the request is recorded, a retry works', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const wacid = await fake.incomingCall({ from: USER });
      await calls(fake, accept(wacid));
      fake.inject({ action: 'terminate', hang: true });
      await assert.rejects(calls(fake, terminate(wacid), { signal: AbortSignal.timeout(150) }));
      assert.equal(fake.callState(wacid), 'ACTIVE');
      assert.equal(fake.countRequests({ action: 'terminate', call_id: wacid }), 1);
      assert.equal(fake.requests.at(-1)!.status, 0);
      assert.equal((await calls(fake, terminate(wacid))).status, 200);
      await fake.flush();
      assert.equal(rx.got.filter((w) => callEvent(w)?.event === 'terminate').length, 1);
    });
  });

  test('a hung request does not keep close() from finishing', async () => {
    const fake = await startFakeMeta({ numbers: [NUM] });
    fake.inject({ hang: true });
    const pending = calls(fake, terminate('wacid.x')).catch((e: unknown) => e);
    while (fake.requests.length === 0) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await fake.close();
    assert.ok((await pending) instanceof Error);
  });

  test('503 with Graph code 2, HTML 502, successFalse, reset, explicit error, latency — state unchanged', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const wacid = await fake.incomingCall({ from: USER });
      fake.inject({ action: 'reject', status: 503 });
      fake.inject({ action: 'reject', status: 502, html: true });
      fake.inject({ path: 'calls', successFalse: true });
      fake.inject({ action: 'reject', reset: true });
      fake.inject({ action: 'reject', error: { code: 138002, error_data: { details: 'busy' } } });

      assertGraphError(await calls(fake, reject(wacid)), 503, 2);
      const html = await calls(fake, reject(wacid));
      assert.equal(html.status, 502);
      assert.match(html.text, /<html>/);
      assert.deepEqual((await calls(fake, reject(wacid))).body, { success: false });
      await assert.rejects(calls(fake, reject(wacid)));
      assertGraphError(await calls(fake, reject(wacid)), 429, 138002, /^busy$/);
      assert.equal(fake.callState(wacid), 'RINGING');
      assert.equal(fake.countRequests({ action: 'reject', call_id: wacid }), 5);

      fake.inject({ action: 'reject', latencyMs: [40, 60] });
      const started = performance.now();
      assert.equal((await calls(fake, reject(wacid))).status, 200);
      assert.ok(performance.now() - started >= 35);
      assert.equal(fake.callState(wacid), 'ENDED');
      await fake.flush();
      assert.equal(rx.got.length, 2);
    });
  });

  test('times and clearInjections', async () => {
    await withFake({}, async ({ fake }) => {
      fake.inject({ path: 'settings', status: 500, times: 2 });
      assertGraphError(await graph(fake, `/v23.0/${NUM.phoneNumberId}/settings`), 500, 1);
      assertGraphError(await graph(fake, `/v23.0/${NUM.phoneNumberId}/settings`), 500, 1);
      assert.equal((await graph(fake, `/v23.0/${NUM.phoneNumberId}/settings`)).status, 200);
      fake.inject({ path: 'settings', status: 500 });
      fake.clearInjections();
      assert.equal((await graph(fake, `/v23.0/${NUM.phoneNumberId}/settings`)).status, 200);
    });
  });
});

// ───────────── §5.4 webhook emission ─────────────

describe('webhook emission (§5.4)', () => {
  test('duplicate sends the same bytes again', async () => {
    await withFake({}, async ({ fake, rx }) => {
      await fake.incomingCall({ from: USER }, { duplicate: 2 });
      assert.equal(rx.got.length, 3);
      assert.equal(rx.got[0]!.raw, rx.got[2]!.raw);
      assert.equal(rx.got[0]!.headers['x-hub-signature-256'], rx.got[2]!.headers['x-hub-signature-256']);
    });
  });

  test('hold + releaseHeld reorders (terminate before connect); flush waits for pending deliveries', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const wacid = await fake.incomingCall({ from: USER }, { hold: true });
      assert.equal(rx.got.length, 0);
      assert.equal(fake.heldCount(), 1);
      await fake.userHangsUp(wacid);
      await fake.releaseHeld();
      assert.deepEqual(
        rx.got.map((w) => callEvent(w).event),
        ['terminate', 'connect'],
      );

      await fake
        .sendWebhook(fake.buildWebhook(NUM.phoneNumberId, { calls: [] }), { delayMs: 50 })
        .then(() => undefined);
      const pending = fake.sendWebhook(fake.buildWebhook(NUM.phoneNumberId, { statuses: [] }), { delayMs: 50 });
      assert.equal(rx.got.length, 3);
      await fake.flush();
      assert.equal(rx.got.length, 4);
      await pending;
    });
  });

  test('API-caused webhooks can be held too (setEmitDefaults) and batched into one POST', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const a = await fake.incomingCall({ from: USER });
      const b = await fake.incomingCall({ from: USER2 });
      fake.setEmitDefaults({ hold: true });
      await calls(fake, reject(a));
      await calls(fake, reject(b));
      await fake.flush();
      assert.equal(rx.got.length, 2);
      assert.equal(fake.heldCount(), 2);
      fake.setEmitDefaults({});
      await fake.releaseHeld({ batch: 'array' });
      assert.equal(rx.got.length, 3);
      const value = rx.got[2]!.body.entry[0].changes[0].value;
      assert.deepEqual(
        value.calls.map((c: Json) => c.id),
        [a, b],
      );
      assert.deepEqual(
        value.contacts.map((c: Json) => c.wa_id),
        [USER, USER2],
      );
      assert.equal(rx.got[2]!.headers['x-hub-signature-256'], signMetaBody(rx.got[2]!.raw, NUM.appSecret));
    });
  });

  test('beforeResponse: the terminate webhook lands before the API answer', async () => {
    await withFake({}, async ({ fake, rx }) => {
      const wacid = await fake.incomingCall({ from: USER });
      fake.setEmitDefaults({ beforeResponse: true });
      let seenAtResponse = 0;
      await calls(fake, reject(wacid)).then(() => (seenAtResponse = rx.got.length));
      assert.equal(seenAtResponse, 2);
    });
  });

  test('retries on non-2xx and on dropped attempts; every attempt is logged', async () => {
    await withFake({}, async ({ fake, rx }) => {
      rx.statuses.push(500, 503);
      await fake.incomingCall({ from: USER });
      assert.deepEqual(
        fake.webhookAttempts.map((a) => a.status),
        [500, 503, 200],
      );
      assert.equal(rx.got.length, 3);
      assert.equal(new Set(rx.got.map((w) => w.raw)).size, 1);

      await fake.incomingCall({ from: USER2 }, { dropFirstAttempts: 2 });
      assert.deepEqual(
        fake.webhookAttempts.slice(3).map((a) => a.status),
        [null, null, 200],
      );
      assert.equal(rx.got.length, 4);

      rx.statuses.push(500, 500, 500);
      await fake.sendWebhook(fake.buildWebhook(NUM.phoneNumberId, { statuses: [] }));
      assert.equal(fake.webhookAttempts.length, 9, 'gives up after the schedule');
    });
  });

  test('a slow receiver times out and is retried', async () => {
    const rx = await startReceiver();
    let slowOnce = true;
    const slow = createServer((req, res) => {
      req.resume();
      if (slowOnce) {
        slowOnce = false;
        setTimeout(() => res.writeHead(200).end(), 300);
      } else {
        res.writeHead(200).end();
      }
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const fake = await startFakeMeta({ numbers: [NUM], webhookTimeoutMs: 50, webhookRetryScheduleMs: [0, 10] });
    try {
      fake.setWebhookUrl(`http://127.0.0.1:${(slow.address() as AddressInfo).port}/`);
      await fake.incomingCall({ from: USER });
      assert.deepEqual(
        fake.webhookAttempts.map((a) => [a.status, a.error]),
        [
          [null, 'timeout'],
          [200, undefined],
        ],
      );
    } finally {
      await fake.close();
      slow.closeAllConnections();
      slow.close();
      await rx.close();
    }
  });

  test('badSignature, noSignature, lowercaseStatus, stale, unknownFields, withBsuid, omitContacts', async () => {
    await withFake({ now: () => 1_767_866_400_000 }, async ({ fake, rx }) => {
      const a = await fake.incomingCall(
        { from: USER },
        { badSignature: true, stale: 120, unknownFields: true, withBsuid: true },
      );
      const bad = rx.got[0]!;
      assert.match(String(bad.headers['x-hub-signature-256']), /^sha256=[0-9a-f]{64}$/);
      assert.notEqual(bad.headers['x-hub-signature-256'], signMetaBody(bad.raw, NUM.appSecret));
      assert.equal(callEvent(bad).timestamp, '1767866280');
      assert.equal(bad.body.x_fake_unknown_field, 'ignore-me');
      assert.match(callEvent(bad).from_user_id, /^ZZ\.\d+$/);
      assert.match(bad.body.entry[0].changes[0].value.contacts[0].user_id, /^ZZ\.\d+$/);

      await calls(fake, accept(a));
      await fake.userHangsUp(a, { noSignature: true, lowercaseStatus: true, omitContacts: true });
      const end = rx.got[1]!;
      assert.equal(end.headers['x-hub-signature-256'], undefined);
      assert.equal(callEvent(end).status, 'Completed');
      assert.equal(end.body.entry[0].changes[0].value.contacts, undefined);
    });
  });

  test('same seed + same script → byte-identical webhooks; other seed → other ids', async () => {
    const run = async (seed: string) => {
      const out: string[] = [];
      let clock = 1_767_866_400_000;
      await withFake({ seed, now: () => clock }, async ({ fake, rx }) => {
        const w = await fake.incomingCall({ from: USER, name: 'Zoë' });
        await calls(fake, accept(w));
        clock += 61_000;
        await fake.userHangsUp(w);
        out.push(...rx.got.map((g) => g.raw + g.headers['x-hub-signature-256']));
      });
      return out;
    };
    const [a, b, c] = [await run('s1'), await run('s1'), await run('s2')];
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  test('without a webhook URL the attempt is logged and dropped', async () => {
    const fake = await startFakeMeta({ numbers: [NUM] });
    try {
      await fake.incomingCall({ from: USER });
      assert.equal(fake.webhookAttempts[0]!.error, 'no webhookUrl configured');
    } finally {
      await fake.close();
    }
  });
});

// ───────────── permissions, messages, settings ─────────────

describe('permissions, permission requests and settings', () => {
  test('GET call_permissions reflects grants, usage counters and limit_expiration_time', async () => {
    const clock = 1_767_866_400_000;
    await withFake({ now: () => clock, maxConnectedPerPairPerDay: 1 }, async ({ fake }) => {
      const path = `/v23.0/${NUM.phoneNumberId}/call_permissions?user_wa_id=${USER}`;
      let r = await graph(fake, path);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.permission, { status: 'no_permission' });
      assert.equal(r.body.actions[1].can_perform_action, false);
      fake.grantPermission(NUM.phoneNumberId, USER, 'temporary');
      r = await graph(fake, path);
      assert.deepEqual(r.body.permission, { status: 'temporary', expiration_time: 1_767_866_400 + 7 * 86400 });
      assert.equal(r.body.actions[1].can_perform_action, true);
      const id = (await calls(fake, connect())).body.calls[0].id;
      await fake.userAnswers(id);
      r = await graph(fake, path);
      assert.deepEqual(r.body.actions[1], {
        action_name: 'start_call',
        can_perform_action: false,
        limits: [
          { time_period: 'PT24H', max_allowed: 1, current_usage: 1, limit_expiration_time: 1_767_866_400 + 86400 },
        ],
      });
      assertGraphError(await graph(fake, `/v23.0/${NUM.phoneNumberId}/call_permissions`), 400, 100, /user_wa_id/);
      fake.revokePermission(NUM.phoneNumberId, USER);
      assert.equal((await graph(fake, path)).body.permission.status, 'no_permission');
    });
  });

  test('call_permissions GET rate limit → 429 613', async () => {
    await withFake({ permissionGetRatePerSec: 2, now: () => 1_767_866_400_000 }, async ({ fake }) => {
      const path = `/v23.0/${NUM.phoneNumberId}/call_permissions?user_wa_id=${USER}`;
      assert.equal((await graph(fake, path)).status, 200);
      assert.equal((await graph(fake, path)).status, 200);
      assertGraphError(await graph(fake, path), 429, 613);
    });
  });

  test('permission request: wamid, 138009 limits, reply webhook with context.id, 138017 once permanent', async () => {
    let clock = 1_767_866_400_000;
    await withFake({ now: () => clock }, async ({ fake, rx }) => {
      const path = `/v23.0/${NUM.phoneNumberId}/messages`;
      const msg = {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to: USER,
        type: 'interactive',
        interactive: {
          type: 'call_permission_request',
          action: { name: 'call_permission_request' },
          body: { text: 'May we call you?' },
        },
      };
      assertGraphError(await graph(fake, path, { body: { ...msg, type: 'text', text: { body: 'hi' } } }), 400, 100);
      const r = await graph(fake, path, { body: msg });
      assert.equal(r.status, 200);
      const wamid = r.body.messages[0].id;
      assert.match(wamid, /^wamid\.[A-Za-z0-9+/=_-]+$/);
      assert.deepEqual(r.body.contacts, [{ input: USER, wa_id: USER }]);
      assertGraphError(await graph(fake, path, { body: msg }), 400, 138009);
      clock += 86_400_000;
      assert.equal((await graph(fake, path, { body: msg })).status, 200);
      clock += 86_400_000;
      assertGraphError(await graph(fake, path, { body: msg }), 400, 138009); // 2 per 7 days

      await fake.userRepliesToPermission(NUM.phoneNumberId, USER, 'accept', { permanent: true });
      const change = rx.got[0]!.body.entry[0].changes[0];
      assert.equal(change.field, 'messages');
      const m = change.value.messages[0];
      assert.equal(m.type, 'interactive');
      assert.equal(m.interactive.type, 'call_permission_reply');
      assert.ok(m.context.id.startsWith('wamid.'));
      assert.deepEqual(m.interactive.call_permission_reply, {
        response: 'accept',
        is_permanent: true,
        response_source: 'user_action',
      });
      assertGraphError(await graph(fake, path, { body: msg }), 400, 138017);
    });
  });

  test('a temporary grant reply carries a string expiration_timestamp', async () => {
    await withFake({ now: () => 1_767_862_800_000 }, async ({ fake, rx }) => {
      await fake.userRepliesToPermission(NUM.phoneNumberId, USER, 'accept');
      const reply = rx.got[0]!.body.entry[0].changes[0].value.messages[0].interactive.call_permission_reply;
      assert.deepEqual(reply, {
        response: 'accept',
        is_permanent: false,
        expiration_timestamp: '1768467600',
        response_source: 'user_action',
      });
    });
  });

  test('settings: default GET, validated POST replacing call_hours, 138015 under the messaging limit', async () => {
    await withFake({}, async ({ fake }) => {
      const path = `/v23.0/${NUM.phoneNumberId}/settings`;
      assert.deepEqual((await graph(fake, path)).body, {
        calling: {
          status: 'ENABLED',
          call_icon_visibility: 'DEFAULT',
          callback_permission_status: 'DISABLED',
          sip: { status: 'DISABLED' },
        },
      });
      const hours = {
        status: 'ENABLED',
        timezone_id: 'America/Sao_Paulo',
        weekly_operating_hours: [
          { day_of_week: 'MONDAY', open_time: '0900', close_time: '1200' },
          { day_of_week: 'MONDAY', open_time: '1300', close_time: '1800' },
        ],
        holiday_schedule: [{ date: '2026-12-25', start_time: '0000', end_time: '2359' }],
      };
      const ok = await graph(fake, path, {
        body: { calling: { call_hours: hours, audio: { additional_codecs: ['PCMA'] } } },
      });
      assert.deepEqual(ok.body, { success: true });
      const bad = (calling: unknown) => graph(fake, path, { body: { calling } });
      assertGraphError(await bad({ status: 'ON' }), 400, 100, /calling\.status/);
      assertGraphError(await bad({ call_icon_visibility: 'HIDE_IN_CHAT' }), 400, 100);
      assertGraphError(await bad({ call_hours: { ...hours, weekly_operating_hours: [] } }), 400, 100, /non-empty/);
      assertGraphError(
        await bad({
          call_hours: {
            ...hours,
            weekly_operating_hours: [{ day_of_week: 'MONDAY', open_time: '09:00', close_time: '1800' }],
          },
        }),
        400,
        100,
        /HHMM/,
      );
      assertGraphError(
        await bad({
          call_hours: {
            ...hours,
            weekly_operating_hours: [{ day_of_week: 'MONDAY', open_time: '1800', close_time: '0900' }],
          },
        }),
        400,
        100,
      );
      assertGraphError(
        await bad({
          call_hours: {
            ...hours,
            weekly_operating_hours: [
              hours.weekly_operating_hours[0],
              { day_of_week: 'MONDAY', open_time: '1100', close_time: '1400' },
            ],
          },
        }),
        400,
        100,
        /overlapping/,
      );
      const three = ['0100', '0300', '0500'].map((t) => ({
        day_of_week: 'FRIDAY',
        open_time: t,
        close_time: String(Number(t) + 100).padStart(4, '0'),
      }));
      assertGraphError(await bad({ call_hours: { ...hours, weekly_operating_hours: three } }), 400, 100, /at most 2/);
      const holidays = Array.from({ length: 21 }, (_, i) => ({
        date: `2026-01-${String(i + 1).padStart(2, '0')}`,
        start_time: '0000',
        end_time: '2359',
      }));
      assertGraphError(await bad({ call_hours: { ...hours, holiday_schedule: holidays } }), 400, 100, /20/);
      assertGraphError(await bad({ call_hours: { ...hours, timezone_id: 'Mars/Olympus' } }), 400, 100, /time zone/);

      // call_hours is replaced whole: an omitted holiday_schedule is gone.
      const { holiday_schedule: _dropped, ...noHolidays } = hours;
      await graph(fake, path, { body: { calling: { call_hours: noHolidays } } });
      const got = (await graph(fake, path)).body.calling;
      assert.equal(got.call_hours.holiday_schedule, undefined);
      assert.deepEqual(got.audio, { additional_codecs: ['PCMA'] });

      // Disabling calling turns the calls endpoint off; enabling needs a messaging limit ≥ 2000.
      await graph(fake, path, { body: { calling: { status: 'DISABLED' } } });
      assertGraphError(await calls(fake, reject('wacid.x')), 401, 138000);
      fake.setMessagingLimit(NUM.phoneNumberId, 1000);
      assertGraphError(await graph(fake, path, { body: { calling: { status: 'ENABLED' } } }), 400, 138015);
      fake.setMessagingLimit(NUM.phoneNumberId, 2000);
      assert.equal(
        (await graph(fake, path, { body: { calling: { status: 'ENABLED', sip: { status: 'ENABLED' } } } })).status,
        200,
      );
      assertGraphError(await calls(fake, reject('wacid.x')), 400, 131055);
    });
  });

  test('callback permission: a user call grants a temporary permission with context.id = wacid', async () => {
    await withFake({}, async ({ fake, rx }) => {
      await graph(fake, `/v23.0/${NUM.phoneNumberId}/settings`, {
        body: { calling: { callback_permission_status: 'ENABLED' } },
      });
      await fake.flush();
      const settingsNotices = rx.got.length;
      assert.equal(settingsNotices, 1, 'Meta reports the settings change (account_settings_update)');
      assert.equal(rx.got[0]!.body.entry[0].changes[0].field, 'account_settings_update');
      const wacid = await fake.incomingCall({ from: USER });
      assert.equal(rx.got.length, settingsNotices + 2);
      assert.equal(rx.got[settingsNotices + 1]!.body.entry[0].changes[0].value.messages[0].context.id, wacid);
      const r = await graph(fake, `/v23.0/${NUM.phoneNumberId}/call_permissions?user_wa_id=${USER}`);
      assert.equal(r.body.permission.status, 'temporary');
    });
  });
});
