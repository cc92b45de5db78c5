// The bench's Meta number and its signed `connect` webhooks, as Meta sends them (shared by every phase).
import { createHmac } from 'node:crypto';
import type http from 'node:http';
import { request } from './lib.ts';

export const PHONE_NUMBER_ID = '106540352242922';
export const DISPLAY_NUMBER = '15550783881';
export const WABA_ID = '102290129340398';
export const APP_SECRET = 'bench-app-secret';
// A realistic WebRTC offer (~1 KB), stored with every call as Meta's would be.
const OFFER_SDP = `${[
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=msid-semantic: WMS',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 126',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:bN1a',
  'a=ice-pwd:Zw3qK0dGmX7lVb9pQe2sT1uR',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=msid:- 750f4c0a-5b1e-4c33-a4a4-4b8cbbf2f8f6',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:126 telephone-event/8000',
  'a=ssrc:2291584637 cname:wFJ1c8bQk4n6PZ7q',
  'a=candidate:1467250027 1 udp 2122260223 157.240.12.53 3478 typ host generation 0',
].join('\r\n')}\r\n`;

let peer = 0;
/** One signed POST announcing these calls; each carries `sdps[i]` as its offer, else the canned ~1 KB one. */
export function metaWebhook(
  wacids: readonly string[],
  sdps: readonly string[] = [],
): { body: string; headers: Record<string, string> } {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const first = peer;
  peer += wacids.length;
  return signedCallsWebhook(
    wacids.map((_, i) => ({ profile: { name: `Caller ${first + i}` }, wa_id: String(5511900000000 + first + i) })),
    wacids.map((id, i) => ({
      id,
      to: DISPLAY_NUMBER,
      from: String(5511900000000 + first + i),
      event: 'connect',
      timestamp,
      direction: 'USER_INITIATED',
      session: { sdp_type: 'offer', sdp: sdps[i] ?? OFFER_SDP },
    })),
  );
}

/** Meta's `calls` webhook for the bench number around these contacts and calls, signed as Meta signs it. */
export function signedCallsWebhook(
  contacts: readonly object[],
  calls: readonly object[],
): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: WABA_ID,
        changes: [
          {
            field: 'calls',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: DISPLAY_NUMBER, phone_number_id: PHONE_NUMBER_ID },
              contacts,
              calls,
            },
          },
        ],
      },
    ],
  });
  const signature = `sha256=${createHmac('sha256', APP_SECRET).update(body).digest('hex')}`;
  return { body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature } };
}

/** Registers the bench's Meta number (POST /v1/numbers with the tenant key); answers the number's API key. */
export async function createMetaNumber(agent: http.Agent, url: string, tenantKey: string): Promise<string> {
  const created = await request(agent, `${url}/v1/numbers`, {
    method: 'POST',
    headers: { 'x-api-key': tenantKey, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'Bench',
      phoneNumber: `+${DISPLAY_NUMBER}`,
      provider: 'META',
      meta: {
        phoneNumberId: PHONE_NUMBER_ID,
        wabaId: WABA_ID,
        accessToken: 'EAAG-bench-token',
        appSecret: APP_SECRET,
        verifyToken: 'bench-verify',
      },
    }),
  });
  if (created.status !== 201) {
    throw new Error(`number creation failed: ${created.status} ${created.body}`);
  }
  return (JSON.parse(created.body) as { apiKey: { key: string } }).apiKey.key;
}
