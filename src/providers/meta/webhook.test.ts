// The calls webhook parser on Meta's documented shapes (docs/spec/providers-meta.md §3.3, §3.4).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMetaWebhook } from './webhook.ts';

const envelope = (calls: object[], more: object = {}) => ({
  object: 'whatsapp_business_account',
  entry: [
    {
      id: '102290129340398',
      changes: [
        {
          field: 'calls',
          value: {
            messaging_product: 'whatsapp',
            metadata: { display_phone_number: '551140040000', phone_number_id: '110200345567891' },
            calls,
            ...more,
          },
        },
      ],
    },
  ],
});

const terminate = (duration: unknown) => ({
  id: 'wacid.HBgN',
  from: '5511987654321',
  to: '551140040000',
  event: 'terminate',
  timestamp: '1767870195',
  direction: 'BUSINESS_INITIATED',
  status: 'COMPLETED',
  start_time: '1767870015',
  end_time: '1767870195',
  duration,
});

function durationOf(duration: unknown): number | null {
  const [update] = parseMetaWebhook(envelope([terminate(duration)]), '2026-01-08T11:03:20.000Z').updates;
  assert.equal(update?.event.type, 'end');
  return update.event.type === 'end' ? update.event.end.duration : null;
}

describe('terminate duration', () => {
  test('an integer or a numeric string is taken as is', () => {
    assert.equal(durationOf(180), 180);
    assert.equal(durationOf('180'), 180);
    assert.equal(durationOf(604_800), 604_800);
  });

  test('anything else is no duration (the times give it), never a made-up 0 or 1', () => {
    // Past a week (no call lasts that long): one past PostgreSQL's INTEGER once failed every delivery of the webhook.
    for (const bad of ['', ' ', true, [180], '1e2', '-5', 12.5, 2 ** 31, '99999999999999999999', 604_801]) {
      assert.equal(durationOf(bad), null, JSON.stringify(bad));
    }
  });
});

describe('values past any real length', () => {
  const at = '2026-01-08T11:03:20.000Z';
  const offer = (fields: object) => ({
    id: 'wacid.HBgNlong',
    from: '5511987654321',
    to: '551140040000',
    event: 'connect',
    timestamp: '1767870002',
    direction: 'USER_INITIATED',
    session: { sdp_type: 'offer', sdp: 'v=0\r\n' },
    ...fields,
  });
  const peerOf = (fields: object) => {
    const [update] = parseMetaWebhook(envelope([offer(fields)]), at).updates;
    return update?.event.type === 'offer' ? [update.event.peerNumber, update.event.peerUserId] : null;
  };

  test('a `from` past 15 digits names no caller; a `from_user_id` past 128 characters no user', () => {
    assert.deepEqual(peerOf({}), ['5511987654321', null]);
    assert.equal(peerOf({ from: '9'.repeat(200_000) }), null);
    assert.deepEqual(peerOf({ from: '9'.repeat(16), from_user_id: 'US.1234' }), [null, 'US.1234']);
    assert.deepEqual(peerOf({ from_user_id: 'u'.repeat(129) }), ['5511987654321', null]);
    // The contact's user id stands in for one that names no one.
    const contacts = { contacts: [{ wa_id: '5511987654321', user_id: 'US.contact' }] };
    const [update] = parseMetaWebhook(envelope([offer({ from_user_id: 'u'.repeat(129) })], contacts), at).updates;
    assert.equal(update?.event.type === 'offer' && update.event.peerUserId, 'US.contact');
  });

  test('a terminate_reason is kept to 200 characters', () => {
    const [update] = parseMetaWebhook(
      envelope([{ ...terminate(180), terminate_reason: 'r'.repeat(900_000) }]),
      at,
    ).updates;
    assert.equal(update?.event.type === 'end' && update.event.end.reason, 'r'.repeat(200));
  });

  test('payloads past 512 characters and a parent_user_id past 128 are dropped, not cut', () => {
    const keptOf = (payload: string, parentUserId: string) => {
      const body = envelope(
        [offer({ cta_payload: payload, deeplink_payload: payload, biz_opaque_callback_data: payload })],
        { contacts: [{ wa_id: '5511987654321', user_id: 'US.1234', parent_user_id: parentUserId }] },
      );
      const [update] = parseMetaWebhook(body, at).updates;
      assert.equal(update?.event.type, 'offer');
      return {
        ...update.providerData,
        biz: update.event.type === 'offer' ? update.event.bizOpaqueCallbackData : undefined,
      };
    };
    const p512 = 'p'.repeat(512);
    const u128 = 'u'.repeat(128);
    assert.deepEqual(keptOf(p512, u128), {
      ctaPayload: p512,
      deeplinkPayload: p512,
      peerParentUserId: u128,
      biz: p512,
    });
    // Signed by Meta, yet no payload is this long: it would be stored with the call and sent on in every webhook.
    assert.deepEqual(keptOf('p'.repeat(513), 'u'.repeat(129)), { biz: null });
    assert.deepEqual(keptOf('p'.repeat(900_000), 'u'.repeat(900_000)), { biz: null });
  });
});

describe('connect without `direction`', () => {
  const connect = (fields: object) => ({
    id: 'wacid.HBgNlegacy',
    from: '5511987654321',
    to: '551140040000',
    event: 'connect',
    timestamp: '1767870002',
    ...fields,
  });
  const directionOf = (fields: object) =>
    parseMetaWebhook(envelope([connect(fields)]), '2026-01-08T11:03:20.000Z').updates[0]?.direction;

  test("the SDP's type tells: an offer is the user's call, an answer ours (so it waits for our 201, R6)", () => {
    assert.equal(directionOf({ session: { sdp_type: 'offer', sdp: 'v=0\r\n' } }), 'INBOUND');
    assert.equal(directionOf({ session: { sdp_type: 'answer', sdp: 'v=0\r\n' } }), 'OUTBOUND');
  });

  test('also when the answer comes only in the legacy connection.webrtc.sdp (§3.3)', () => {
    const legacy = { connection: { webrtc: { sdp: JSON.stringify({ sdp: 'v=0\r\n', type: 'answer' }) } } };
    const [update] = parseMetaWebhook(envelope([connect(legacy)]), '2026-01-08T11:03:20.000Z').updates;
    assert.equal(update?.direction, 'OUTBOUND');
    assert.deepEqual(update?.event, {
      type: 'answer-sdp',
      externalCallId: 'wacid.HBgNlegacy',
      at: '2026-01-08T11:00:02.000Z',
      sdp: 'v=0\r\n',
    });
  });
});
