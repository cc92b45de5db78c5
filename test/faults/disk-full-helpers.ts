// Shared steps of the disk-full suites: signed Meta "connect" webhooks for new calls, posted to the app.
import { signMetaBody } from '../fakes/meta-graph.ts';
import type { TestApp } from '../helpers/build-test-app.ts';
import { nextPeer } from '../helpers/calls.ts';

export interface Posted {
  wacid: string;
  status: number;
  code: string | undefined;
  retryAfter: string | undefined;
}

/** Posts a signed connect for a new call to number A, as Meta would. */
export async function postConnect(t: TestApp, wacid: string): Promise<Posted> {
  const from = nextPeer();
  const body = JSON.stringify(
    t.fake.buildWebhook(t.numberA.phoneNumberId, {
      contacts: [{ profile: { name: 'Ana' }, wa_id: from }],
      calls: [
        {
          id: wacid,
          from,
          to: t.numberA.displayPhoneNumber,
          event: 'connect',
          timestamp: String(Math.floor(Date.now() / 1000)),
          direction: 'USER_INITIATED',
          session: { sdp_type: 'offer', sdp: 'v=0\r\n' },
        },
      ],
    }),
  );
  const res = await t.app.inject({
    method: 'POST',
    url: '/providers/meta/webhook',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaBody(body, t.numberA.appSecret) },
    payload: body,
  });
  const retryAfter = res.headers['retry-after'];
  return {
    wacid,
    status: res.statusCode,
    code: res.statusCode === 200 ? undefined : res.json().code,
    retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
  };
}

export async function readyStatus(t: TestApp): Promise<{ status: number; code: string | undefined }> {
  const res = await t.app.inject({ url: '/readyz' });
  return { status: res.statusCode, code: res.statusCode === 200 ? undefined : res.json().code };
}

let numberCounter = 0;

/** What number creation and terminate answer: the API's writes other than provider webhooks. */
export async function apiWrites(t: TestApp, callId: string): Promise<{ status: number; code: string }[]> {
  numberCounter++;
  t.fake.addNumber({
    phoneNumberId: `99000${numberCounter}`,
    displayPhoneNumber: `5511300${String(numberCounter).padStart(5, '0')}`,
    wabaId: '102290129340398',
    accessToken: 'EAAG-token',
    appSecret: 'app-secret',
  });
  const created = await t.app.inject({
    method: 'POST',
    url: '/v1/numbers',
    headers: { 'x-api-key': t.tenantKey.key },
    payload: {
      name: `Full disk ${numberCounter}`,
      phoneNumber: `+5511300${String(numberCounter).padStart(5, '0')}`,
      provider: 'META',
      meta: {
        phoneNumberId: `99000${numberCounter}`,
        wabaId: '102290129340398',
        accessToken: 'EAAG-token',
        appSecret: 'app-secret',
        verifyToken: 'vt',
      },
    },
  });
  const terminated = await t.app.inject({
    method: 'POST',
    url: `/v1/calls/${callId}/terminate`,
    headers: { 'x-api-key': t.numberA.key.key },
  });
  return [created, terminated].map((r) => ({ status: r.statusCode, code: r.json().code }));
}
