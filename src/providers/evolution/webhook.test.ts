import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { startFakeEvolution } from '../../../test/fakes/evolution-go.ts';
import type { EvolutionUpdate } from './webhook.ts';
import {
  evolutionDedupeKey,
  evolutionTimeToIso,
  inboundPeerOf,
  isValidEvolutionAuth,
  jidParts,
  parseEvolutionConnection,
  parseEvolutionWebhook,
  redactEvolutionPayload,
} from './webhook.ts';

// ───────────── fixtures: the spec's §3 examples ─────────────

const OWN = '5511988887777';
const PEER = '5521977776666';
const CALL_ID = 'B4E1F0C2A9D84E6F8A1B2C3D4E5F6A7B';
const RECEIVED = '2026-04-02T17:10:00.000Z';
const CTX = { ownNumber: OWN, receivedAt: RECEIVED };
const TAIL = {
  instanceToken: 'f3a1c0de-token',
  instanceId: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  instanceName: 'vendas-sp',
};

function stock(event: string, data: Record<string, unknown>) {
  return {
    event,
    data: {
      From: `${PEER}:3@s.whatsapp.net`,
      Timestamp: '2026-04-02T14:05:09-03:00',
      CallCreator: `${PEER}:3@s.whatsapp.net`,
      CallCreatorAlt: '187654321098765@lid',
      CallID: CALL_ID,
      GroupJID: '',
      ...data,
    },
    ...TAIL,
  };
}

const offer = (data: Record<string, unknown> = {}) =>
  stock('CallOffer', {
    RemotePlatform: 'android',
    RemoteVersion: '2.26.7.71',
    Data: {
      Tag: 'offer',
      Attrs: { 'call-id': CALL_ID, 'call-creator': `${PEER}:3@s.whatsapp.net` },
      Content: [
        { Tag: 'audio', Attrs: { enc: 'opus', rate: '16000' }, Content: null },
        { Tag: 'net', Attrs: { medium: '3' }, Content: null },
      ],
    },
    ...data,
  });
const terminate = (reason: string, data: Record<string, unknown> = {}) =>
  stock('CallTerminate', { Reason: reason, ...data });
const ext = (event: string, data: Record<string, unknown>) => ({
  event,
  data: { callId: CALL_ID, peer: `${PEER}@s.whatsapp.net`, direction: 'outgoing', video: false, ...data },
  ...TAIL,
});

function one(payload: unknown): EvolutionUpdate {
  const { updates, ignored } = parseEvolutionWebhook(payload, CTX);
  assert.equal(updates.length, 1, `expected one update, ignored: ${ignored.join('; ')}`);
  return updates[0]!;
}

// ───────────── parsing ─────────────

describe('parseEvolutionWebhook: each event type', () => {
  test('CallOffer → INBOUND offer with the verbatim creator, UTC time, phone digits as peer', () => {
    const u = one(offer());
    assert.equal(u.direction, 'INBOUND');
    assert.equal(u.signal, 'OFFER');
    assert.equal(u.callCreator, `${PEER}:3@s.whatsapp.net`);
    assert.equal(u.peerIsLid, false);
    assert.equal(u.video, false);
    assert.deepEqual(u.event, {
      type: 'offer',
      externalCallId: CALL_ID,
      peerNumber: PEER,
      peerLid: '187654321098765',
      at: '2026-04-02T17:05:09.000Z',
      sdpOffer: null,
      bizOpaqueCallbackData: null,
    });
  });

  const ACCEPT_AT = '2026-04-02T17:05:17.000Z';
  const cases: { name: string; payload: unknown; expect: Partial<EvolutionUpdate> & { event: unknown } }[] = [
    {
      name: 'CallAccept on an inbound call (From = our own device)',
      payload: stock('CallAccept', { From: `${OWN}@s.whatsapp.net`, Timestamp: '2026-04-02T14:05:17-03:00' }),
      expect: {
        direction: 'INBOUND',
        signal: 'CONNECTED',
        event: { type: 'progress', externalCallId: CALL_ID, at: ACCEPT_AT, status: 'ACCEPTED' },
      },
    },
    {
      name: 'CallAccept on an outbound call (CallCreator = us)',
      payload: stock('CallAccept', {
        CallCreator: `${OWN}@s.whatsapp.net`,
        CallCreatorAlt: '',
        Timestamp: '2026-04-02T14:05:17-03:00',
      }),
      expect: {
        direction: 'OUTBOUND',
        signal: 'CONNECTED',
        event: { type: 'progress', externalCallId: CALL_ID, at: ACCEPT_AT, status: 'ACCEPTED' },
      },
    },
    {
      name: 'CallTerminate accepted_elsewhere is a connection, not an end',
      payload: terminate('accepted_elsewhere'),
      expect: {
        signal: 'CONNECTED',
        answeredElsewhere: true,
        reason: 'accepted_elsewhere',
        event: { type: 'progress', externalCallId: CALL_ID, at: '2026-04-02T17:05:09.000Z', status: 'ACCEPTED' },
      },
    },
    {
      name: 'CallTerminate "" (peer hung up): end, no error',
      payload: terminate(''),
      expect: {
        direction: 'INBOUND',
        signal: 'ENDED',
        reason: null,
        event: {
          type: 'end',
          externalCallId: CALL_ID,
          at: '2026-04-02T17:05:09.000Z',
          end: {
            startTime: null,
            endTime: '2026-04-02T17:05:09.000Z',
            duration: null,
            errorCode: null,
            reason: null,
            endedBy: 'PEER',
          },
        },
      },
    },
    {
      name: 'CallTerminate timeout: end with the reason as a system cause',
      payload: terminate('timeout'),
      expect: {
        signal: 'ENDED',
        reason: 'timeout',
        event: {
          type: 'end',
          externalCallId: CALL_ID,
          at: '2026-04-02T17:05:09.000Z',
          end: {
            startTime: null,
            endTime: '2026-04-02T17:05:09.000Z',
            duration: null,
            errorCode: 'timeout',
            reason: 'timeout',
            endedBy: 'SYSTEM',
          },
        },
      },
    },
    {
      name: 'CallTerminate rejected_elsewhere on an inbound call: an end (REJECTED by the business phone, or by our in-flight reject)',
      payload: terminate('rejected_elsewhere'),
      expect: {
        direction: 'INBOUND',
        signal: 'ENDED',
        reason: 'rejected_elsewhere',
        event: {
          type: 'end',
          externalCallId: CALL_ID,
          at: '2026-04-02T17:05:09.000Z',
          end: {
            startTime: null,
            endTime: '2026-04-02T17:05:09.000Z',
            duration: null,
            errorCode: null,
            reason: 'rejected_elsewhere',
            endedBy: 'BUSINESS',
            declined: true,
          },
        },
      },
    },
    {
      name: 'CallReject (extension-forwarded) on an outbound call: a decline by the peer',
      payload: stock('CallReject', { CallCreator: `${OWN}@s.whatsapp.net` }),
      expect: {
        direction: 'OUTBOUND',
        signal: 'ENDED',
        reason: 'rejected',
        event: {
          type: 'end',
          externalCallId: CALL_ID,
          at: '2026-04-02T17:05:09.000Z',
          end: {
            startTime: null,
            endTime: '2026-04-02T17:05:09.000Z',
            duration: null,
            errorCode: null,
            reason: 'rejected',
            endedBy: 'PEER',
            declined: true,
          },
        },
      },
    },
    {
      name: 'CallReady: connected at receipt time, direction from the extension',
      payload: ext('CallReady', {}),
      expect: {
        direction: 'OUTBOUND',
        signal: 'CONNECTED',
        event: { type: 'progress', externalCallId: CALL_ID, at: RECEIVED, status: 'ACCEPTED' },
      },
    },
    {
      name: 'CallEnded hangup (ours): end without error, durationSeconds ignored',
      payload: ext('CallEnded', { reason: 'hangup', durationSeconds: 74 }),
      expect: {
        direction: 'OUTBOUND',
        signal: 'ENDED',
        reason: 'hangup',
        event: {
          type: 'end',
          externalCallId: CALL_ID,
          at: RECEIVED,
          end: {
            startTime: null,
            endTime: RECEIVED,
            duration: null,
            errorCode: null,
            reason: 'hangup',
            endedBy: 'BUSINESS',
          },
        },
      },
    },
    {
      // An end, not a REJECTED status: an answered call or our hang-up in flight still owns it (§4, calls-api §4.6).
      name: 'CallEnded rejected on an outbound call: a decline by the peer',
      payload: ext('CallEnded', { reason: 'rejected' }),
      expect: {
        direction: 'OUTBOUND',
        signal: 'ENDED',
        event: {
          type: 'end',
          externalCallId: CALL_ID,
          at: RECEIVED,
          end: {
            startTime: null,
            endTime: RECEIVED,
            duration: null,
            errorCode: null,
            reason: 'rejected',
            endedBy: 'PEER',
            declined: true,
          },
        },
      },
    },
    {
      name: 'CallEnded ring_timeout on an incoming call: system end',
      payload: ext('CallEnded', { direction: 'incoming', reason: 'ring_timeout' }),
      expect: {
        direction: 'INBOUND',
        signal: 'ENDED',
        event: {
          type: 'end',
          externalCallId: CALL_ID,
          at: RECEIVED,
          end: {
            startTime: null,
            endTime: RECEIVED,
            duration: null,
            errorCode: 'ring_timeout',
            reason: 'ring_timeout',
            endedBy: 'SYSTEM',
          },
        },
      },
    },
    {
      name: 'CallEnded server:<code> is a system end with an error',
      payload: ext('CallEnded', { reason: 'server:503' }),
      expect: {
        signal: 'ENDED',
        reason: 'server:503',
        event: {
          type: 'end',
          externalCallId: CALL_ID,
          at: RECEIVED,
          end: {
            startTime: null,
            endTime: RECEIVED,
            duration: null,
            errorCode: 'server:503',
            reason: 'server:503',
            endedBy: 'SYSTEM',
          },
        },
      },
    },
    {
      // §3: unknown values → decide by state (an answered call ends COMPLETED); no error is known to have happened.
      name: 'CallEnded with a reason nobody documents: a system end, but no error',
      payload: ext('CallEnded', { reason: 'brand_new_reason' }),
      expect: {
        signal: 'ENDED',
        reason: 'brand_new_reason',
        event: {
          type: 'end',
          externalCallId: CALL_ID,
          at: RECEIVED,
          end: {
            startTime: null,
            endTime: RECEIVED,
            duration: null,
            errorCode: null,
            reason: 'brand_new_reason',
            endedBy: 'SYSTEM',
          },
        },
      },
    },
    {
      name: 'CallEnded peer_hangup: end without error',
      payload: ext('CallEnded', { reason: 'peer_hangup', direction: 'incoming' }),
      expect: {
        direction: 'INBOUND',
        event: {
          type: 'end',
          externalCallId: CALL_ID,
          at: RECEIVED,
          end: {
            startTime: null,
            endTime: RECEIVED,
            duration: null,
            errorCode: null,
            reason: 'peer_hangup',
            endedBy: 'PEER',
          },
        },
      },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const u = one(c.payload);
      for (const [k, v] of Object.entries(c.expect)) {
        assert.deepEqual((u as unknown as Record<string, unknown>)[k], v, k);
      }
    });
  }

  const ignoredCases: [string, unknown][] = [
    ['CallRelayLatency (seen only)', stock('CallRelayLatency', {})],
    [
      'CallOfferNotice (group)',
      stock('CallOfferNotice', { GroupJID: '120363041234567890@g.us', Media: 'audio', Type: 'group' }),
    ],
    ['a 1:1 event with a GroupJID', offer({ GroupJID: '120363041234567890@g.us' })],
    ['CallPreAccept', stock('CallPreAccept', {})],
    ['CallTransport', stock('CallTransport', {})],
    ['UnknownCallEvent', stock('UnknownCallEvent', {})],
    ['CallMediaStalled', ext('CallMediaStalled', {})],
    ['a message event', { event: 'Message', data: { Info: {} }, ...TAIL }],
    ['the wiki\'s "call" event no build sends', { event: 'call', data: { id: 'x', from: PEER, isVideo: false } }],
    [
      'an offer created by our own number',
      offer({ CallCreator: `${OWN}:7@s.whatsapp.net`, CallCreatorAlt: '', From: `${OWN}:7@s.whatsapp.net` }),
    ],
  ];
  for (const [name, payload] of ignoredCases) {
    test(`ignored safely: ${name}`, () => {
      const { updates, ignored } = parseEvolutionWebhook(payload, CTX);
      assert.deepEqual(updates, []);
      assert.equal(ignored.length, 1);
    });
  }
});

describe('parseEvolutionWebhook: JIDs and times', () => {
  // A LID is no phone number: a caller known only by one has peerNumber null and its LID in peerLid.
  const peers: {
    name: string;
    data: Record<string, unknown>;
    peer: string | null;
    peerLid?: string;
    lid: boolean;
  }[] = [
    { name: 'phone JID with device', data: {}, peer: PEER, lid: false },
    {
      name: 'creator @lid, alt phone',
      data: {
        CallCreator: '187654321098765:12@lid',
        CallCreatorAlt: `${PEER}@s.whatsapp.net`,
        From: '187654321098765:12@lid',
      },
      peer: PEER,
      peerLid: '187654321098765',
      lid: false,
    },
    {
      name: 'only LIDs',
      data: { CallCreator: '187654321098765@lid', CallCreatorAlt: '', From: '187654321098765:2@lid' },
      peer: null,
      peerLid: '187654321098765',
      lid: true,
    },
    { name: 'agent and device suffixes', data: { CallCreator: `${PEER}.0:3@s.whatsapp.net` }, peer: PEER, lid: false },
    {
      name: 'creator blank alt, peer only in From',
      data: { CallCreator: '99999@lid', CallCreatorAlt: '', From: `${PEER}:1@s.whatsapp.net` },
      peer: PEER,
      lid: false,
    },
  ];
  for (const c of peers) {
    test(`peer: ${c.name}`, () => {
      const u = one(offer(c.data));
      assert.ok(u.event.type === 'offer');
      assert.equal(u.event.peerNumber, c.peer);
      if (c.peerLid !== undefined) {
        assert.equal(u.event.peerLid, c.peerLid);
      }
      assert.equal(u.peerIsLid, c.lid);
      assert.equal(u.callCreator, (c.data.CallCreator as string | undefined) ?? `${PEER}:3@s.whatsapp.net`);
    });
  }

  test('video offers are flagged', () => {
    const u = one(offer({ Data: { Tag: 'offer', Attrs: {}, Content: [{ Tag: 'video', Attrs: {}, Content: null }] } }));
    assert.equal(u.video, true);
  });

  test('jidParts and inboundPeerOf', () => {
    assert.deepEqual(jidParts('5521977776666.0:3@s.whatsapp.net'), { digits: PEER, server: 's.whatsapp.net' });
    assert.deepEqual(jidParts('187654321098765@lid'), { digits: '187654321098765', server: 'lid' });
    assert.deepEqual(jidParts(''), { digits: '', server: '' });
    assert.equal(inboundPeerOf([`${OWN}@s.whatsapp.net`, null], OWN), null);
  });

  test('times: offsets, nanoseconds, Go zero time and junk', () => {
    assert.equal(evolutionTimeToIso('2026-04-02T14:05:09-03:00'), '2026-04-02T17:05:09.000Z');
    assert.equal(evolutionTimeToIso('2026-04-02T14:05:09.123456789+00:00'), '2026-04-02T14:05:09.123Z');
    assert.equal(evolutionTimeToIso('2026-04-02T17:05:09Z'), '2026-04-02T17:05:09.000Z');
    assert.equal(evolutionTimeToIso('0001-01-01T00:00:00Z'), null);
    assert.equal(evolutionTimeToIso('yesterday'), null);
    assert.equal(evolutionTimeToIso(1775149509), null);
    const u = one(offer({ Timestamp: '0001-01-01T00:00:00Z' }));
    assert.equal(u.event.at, RECEIVED);
  });
});

describe('parseEvolutionWebhook: malformed payloads never throw', () => {
  const junk: unknown[] = [
    null,
    undefined,
    42,
    'CallOffer',
    [],
    [offer()],
    {},
    { event: 42 },
    { event: 'CallOffer' },
    { event: 'CallOffer', data: null },
    { event: 'CallOffer', data: [] },
    { event: 'CallOffer', data: 'x' },
    offer({ CallID: '' }),
    offer({ CallID: 42 }),
    offer({ CallID: 'has spaces in it' }),
    offer({ CallID: 'x'.repeat(300) }),
    offer({ CallCreator: null }),
    offer({ CallCreator: PEER }),
    offer({ CallCreator: '', CallCreatorAlt: '', From: '' }),
    offer({ Timestamp: { nested: true } }),
    offer({ Data: 'b64' }),
    offer({ Data: { Content: 'b64' } }),
    offer({ GroupJID: 7 }),
    terminate('x', { CallID: null }),
    stock('CallTerminate', { Reason: 17 }),
    ext('CallEnded', { callId: undefined }),
    ext('CallEnded', { reason: { x: 1 } }),
    ext('CallReady', { direction: 7 }),
    Object.create(null),
    { event: 'CallOffer', data: Object.create(null) },
  ];
  junk.forEach((payload, i) => {
    test(`junk #${i}`, () => {
      const result = parseEvolutionWebhook(payload, CTX);
      assert.ok(Array.isArray(result.updates) && Array.isArray(result.ignored));
      for (const u of result.updates) {
        assert.equal(typeof u.event.externalCallId, 'string');
      }
    });
  });

  test('a throwing getter is contained', () => {
    const evil = {
      event: 'CallOffer',
      get data(): unknown {
        throw new Error('boom');
      },
    };
    const r = parseEvolutionWebhook(evil, CTX);
    assert.deepEqual(r.updates, []);
    assert.match(r.ignored[0]!, /parser error/);
  });

  test('a reason is kept to 200 characters; a JID past 15 digits (a LID past 32) names no caller', () => {
    assert.equal(one(stock('CallTerminate', { Reason: 'x'.repeat(900_000) })).reason, 'x'.repeat(200));
    const long = '9'.repeat(200_000);
    const onlyLong = offer({ CallCreator: `${long}@s.whatsapp.net`, CallCreatorAlt: '', From: '' });
    assert.deepEqual(parseEvolutionWebhook(onlyLong, CTX).updates, []);
    assert.equal(inboundPeerOf([`5511${'9'.repeat(12)}@s.whatsapp.net`], OWN), null, '16 digits');
    assert.deepEqual(inboundPeerOf([`${'1'.repeat(33)}@lid`], OWN), null);
    assert.equal(inboundPeerOf([`${'1'.repeat(15)}@s.whatsapp.net`], OWN)?.peerNumber, '1'.repeat(15));
    const connected = parseEvolutionConnection({ event: 'PairSuccess', data: { ID: `${long}@s.whatsapp.net` } });
    assert.equal(connected?.phone, null);
    const out = parseEvolutionConnection({ event: 'LoggedOut', data: { reason: `a\u0000${'y'.repeat(300)}` } });
    assert.equal(out?.reason, `a${'y'.repeat(199)}`);
  });

  test('a terminate with a non-string Reason is treated as ""', () => {
    const u = one(stock('CallTerminate', { Reason: 17 }));
    assert.equal(u.reason, null);
  });
});

// ───────────── auth and helpers ─────────────

describe('isValidEvolutionAuth', () => {
  const stored = { instanceId: TAIL.instanceId, instanceToken: TAIL.instanceToken };
  test('token and instance id must both match', () => {
    assert.equal(isValidEvolutionAuth(offer(), stored), true);
    assert.equal(isValidEvolutionAuth({ ...offer(), instanceToken: 'wrong' }, stored), false);
    assert.equal(isValidEvolutionAuth({ ...offer(), instanceToken: `${TAIL.instanceToken}x` }, stored), false);
    assert.equal(isValidEvolutionAuth({ ...offer(), instanceId: 'another-instance' }, stored), false);
    assert.equal(isValidEvolutionAuth({ ...offer(), instanceToken: undefined }, stored), false);
    assert.equal(isValidEvolutionAuth({ ...offer(), instanceToken: '' }, { ...stored, instanceToken: '' }), false);
    assert.equal(isValidEvolutionAuth(null, stored), false);
    assert.equal(isValidEvolutionAuth('x', stored), false);
  });

  test('instanceName is not part of auth', () => {
    assert.equal(isValidEvolutionAuth({ ...offer(), instanceName: 'renamed' }, stored), true);
  });

  test('optional proxy header secret is checked in addition, never instead', () => {
    const withHeader = { ...stored, headerSecret: 's3cret' };
    assert.equal(isValidEvolutionAuth(offer(), withHeader, 's3cret'), true);
    assert.equal(isValidEvolutionAuth(offer(), withHeader, 'nope'), false);
    assert.equal(isValidEvolutionAuth(offer(), withHeader, undefined), false);
    assert.equal(isValidEvolutionAuth({ ...offer(), instanceToken: 'wrong' }, withHeader, 's3cret'), false);
  });
});

describe('helpers', () => {
  test('redactEvolutionPayload hides the token and leaves the rest', () => {
    const p = offer();
    const r = redactEvolutionPayload(p);
    assert.equal(r.instanceToken, '[redacted]');
    assert.equal(p.instanceToken, TAIL.instanceToken);
    assert.deepEqual(r.data, p.data);
    assert.equal(redactEvolutionPayload('x'), 'x');
  });

  test('dedupe key: same for a retried delivery, different per event/reason, never throws', () => {
    assert.equal(evolutionDedupeKey(offer()), evolutionDedupeKey(JSON.parse(JSON.stringify(offer()))));
    assert.notEqual(evolutionDedupeKey(terminate('')), evolutionDedupeKey(terminate('timeout')));
    assert.notEqual(evolutionDedupeKey(offer()), evolutionDedupeKey(terminate('')));
    assert.notEqual(
      evolutionDedupeKey(ext('CallEnded', { reason: 'hangup' })),
      evolutionDedupeKey(ext('CallReady', {})),
    );
    assert.match(evolutionDedupeKey(null), /^[0-9a-f]{64}$/);
  });
});

// ───────────── round trip: the fake's wire shape through the parser ─────────────

describe('fake Evolution Go webhooks → parser', () => {
  test('offer, reject confirmation, outbound accept/ready/hangup: auth passes and updates come out right', async () => {
    const bodies: unknown[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const inst = {
      id: TAIL.instanceId,
      name: TAIL.instanceName,
      token: TAIL.instanceToken,
      ownNumber: OWN,
      webhookUrl: `http://127.0.0.1:${port}/hook`,
    };
    const fake = await startFakeEvolution({ instances: [inst], connectDelayMs: 0 });
    try {
      const callId = await fake.incomingCall({ from: PEER, creatorIsLid: true });
      const creator = fake.call(callId)!.callCreator;
      await fetch(`${fake.baseUrl}/call/reject`, {
        method: 'POST',
        headers: { apikey: inst.token, 'content-type': 'application/json' },
        body: JSON.stringify({ callCreator: creator, callId }),
      });
      const dial = (await (
        await fetch(`${fake.baseUrl}/call/dial`, {
          method: 'POST',
          headers: { apikey: inst.token, 'content-type': 'application/json' },
          body: JSON.stringify({ number: PEER }),
        })
      ).json()) as { callId: string };
      await fake.peerAccepts(dial.callId);
      fake.advance(0);
      await fetch(`${fake.baseUrl}/call/hangup`, {
        method: 'POST',
        headers: { apikey: inst.token, 'content-type': 'application/json' },
        body: JSON.stringify({ callId: dial.callId }),
      });
      await fake.flush();

      const stored = { instanceId: inst.id, instanceToken: inst.token };
      assert.ok(bodies.every((b) => isValidEvolutionAuth(b, stored)));
      const parsed = bodies.map((b) => parseEvolutionWebhook(b, CTX));
      const updates = parsed.flatMap((p) => p.updates);
      assert.deepEqual(
        updates.map((u) => [u.providerEvent, u.signal, u.direction, u.event.type]),
        [
          ['CallOffer', 'OFFER', 'INBOUND', 'offer'],
          ['CallTerminate', 'ENDED', 'INBOUND', 'end'],
          ['CallEnded', 'ENDED', 'INBOUND', 'end'],
          ['CallAccept', 'CONNECTED', 'OUTBOUND', 'progress'],
          ['CallReady', 'CONNECTED', 'OUTBOUND', 'progress'],
          ['CallEnded', 'ENDED', 'OUTBOUND', 'end'],
        ],
      );
      const offerUpdate = updates[0]!;
      assert.equal(offerUpdate.callCreator, creator);
      assert.equal(offerUpdate.event.type === 'offer' && offerUpdate.event.peerNumber, PEER);
      assert.equal(offerUpdate.peerIsLid, false);
      assert.deepEqual(
        parsed.flatMap((p) => p.ignored),
        ['CallRelayLatency: seen only, no state change'],
      );
    } finally {
      await fake.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    }
  });
});

test('stock ends and answers name their caller, so a call never offered can be recorded; our own phone is no caller', () => {
  const named = one(terminate(''));
  assert.deepEqual(named.caller, {
    peerNumber: PEER,
    peerLid: '187654321098765',
    callCreator: `${PEER}:3@s.whatsapp.net`,
  });
  // OWN without Brazil's ninth digit: the same line, so a call placed from the business phone, not a caller.
  const ownSpelledShort = `55${OWN.slice(2, 4)}${OWN.slice(5)}`;
  const fromOurPhone = one(
    terminate('', { CallCreator: `${ownSpelledShort}@s.whatsapp.net`, From: `${ownSpelledShort}@s.whatsapp.net` }),
  );
  assert.equal(fromOurPhone.caller, undefined);
  // Another area code with the same last digits is someone else.
  const neighbour = `55${OWN.slice(2, 3)}9${OWN.slice(4)}`;
  const fromThem = one(
    terminate('', { CallCreator: `${neighbour}@s.whatsapp.net`, From: `${neighbour}@s.whatsapp.net` }),
  );
  assert.equal(fromThem.caller?.peerNumber, neighbour);
});

test('extension events of an incoming call name their caller by `peer`, without a CallCreator to echo', () => {
  const ready = one(ext('CallReady', { direction: 'incoming' }));
  assert.deepEqual(ready.caller, { peerNumber: PEER, peerLid: null, callCreator: null });
  const ended = one(ext('CallEnded', { direction: 'incoming', peer: '187654321098765@lid', reason: 'peer_hangup' }));
  assert.deepEqual(ended.caller, { peerNumber: null, peerLid: '187654321098765', callCreator: null });
  assert.equal(one(ext('CallReady', {})).caller, undefined, 'outgoing: the peer is the one we called');
  assert.equal(one(ext('CallReady', { direction: 'incoming', peer: `${OWN}@s.whatsapp.net` })).caller, undefined);
});

test('CONNECTION events: what each says of the instance; anything else is no connection event', () => {
  const env = (event: string, data: unknown) => ({ event, data, instanceToken: 't', instanceId: 'i' });
  assert.deepEqual(parseEvolutionConnection(env('Connected', { status: 'open', jid: `${OWN}:12@s.whatsapp.net` })), {
    event: 'Connected',
    connected: true,
    loggedIn: true,
    phone: OWN,
    reason: null,
  });
  assert.equal(parseEvolutionConnection(env('PairSuccess', { ID: `${OWN}:3@s.whatsapp.net` }))?.phone, OWN);
  assert.equal(parseEvolutionConnection(env('Connected', { jid: '187654321098765@lid' }))?.phone, null);
  assert.deepEqual(parseEvolutionConnection(env('LoggedOut', { OnConnect: false, Reason: 401, reason: 'gone' })), {
    event: 'LoggedOut',
    connected: false,
    loggedIn: false,
    phone: null,
    reason: 'gone',
  });
  for (const event of ['Disconnected', 'ConnectFailure', 'TemporaryBan']) {
    const down = parseEvolutionConnection(env(event, null));
    assert.deepEqual([down?.connected, down?.loggedIn], [false, null], event);
  }
  for (const junk of [null, [], 'Connected', env('CallOffer', {}), env('QRTimeout', {}), { data: {} }]) {
    assert.equal(parseEvolutionConnection(junk), null);
  }
});
