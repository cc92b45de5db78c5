// Creations whose process dies between storing what they made and recording their Idempotency-Key's answer: the
// answer commits with the object (a permission request's, which stores nothing else, as soon as Meta has sent the
// message), so a retry that takes the abandoned key over gets the first object back instead of making a second
// one. POST /v1/calls has its own such test in routes/calls/outbound.faults.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FakeEvolution } from '../../../test/fakes/evolution-go.ts';
import { buildTestApp, type TestApp } from '../../../test/helpers/build-test-app.ts';
import { nextPeer } from '../../../test/helpers/calls.ts';
import { startOnboardingServer } from '../../../test/helpers/evolution.ts';
import { abandonKey, responseAnswersLost } from '../../../test/helpers/lost-answers.ts';
import { storeKinds } from '../../../test/helpers/stores.ts';

interface Creation {
  name: string;
  status: number;
  /** Any setup, then the request, and how many objects (or messages at Meta) it has made so far. */
  prepare(t: TestApp): Promise<{
    url: string;
    apiKey: string;
    payload: Record<string, unknown>;
    made: () => Promise<number>;
  }>;
  /** What the retry answers, from the first answer: the same unless said. */
  replayed?: (first: Record<string, unknown>) => Record<string, unknown>;
}

async function count(t: TestApp, sql: string, params: string[]): Promise<number> {
  const [row] = await t.store.db.query<{ n: number | string }>(sql, params);
  return Number(row?.n ?? 0);
}

let evo: FakeEvolution;
let serial = 0;

const creations: Creation[] = [
  {
    name: 'POST /v1/numbers (a sandbox number, given a phone of its own each time)',
    status: 201,
    async prepare(t) {
      const name = `crash-sandbox-${++serial}`;
      return {
        url: '/v1/numbers',
        apiKey: t.tenantKey.key,
        payload: { name, provider: 'SANDBOX' },
        made: () => count(t, 'SELECT COUNT(*) AS n FROM numbers WHERE name = $1', [name]),
      };
    },
  },
  {
    name: "POST /v1/numbers (Pilot's web number by QR)",
    status: 201,
    // Answered as stored, before the instance was subscribed: connect gives the QR.
    replayed: (first) => ({ ...first, qrcode: null, code: null, qrcodeBase64: null, pairingCode: null }),
    async prepare(t) {
      const before = evo.created.length;
      return {
        url: '/v1/numbers',
        apiKey: t.tenantKey.key,
        payload: { name: `crash-web-${++serial}`, number: `+55119777${String(70000 + serial)}` },
        made: async () => evo.created.length - before,
      };
    },
  },
  {
    name: 'POST /v1/webhooks',
    status: 201,
    async prepare(t) {
      const url = `http://127.0.0.1:9/crash-${++serial}`;
      return {
        url: '/v1/webhooks',
        apiKey: t.numberA.key.key,
        payload: { url, events: ['call.ended'] },
        made: () => count(t, 'SELECT COUNT(*) AS n FROM webhooks WHERE url = $1', [url]),
      };
    },
  },
  {
    name: "POST /v1/api-keys (a number's first key)",
    status: 201,
    async prepare(t) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/numbers',
        headers: { 'x-api-key': t.tenantKey.key },
        payload: { name: `crash-keyless-${++serial}`, provider: 'SANDBOX' },
      });
      assert.equal(res.statusCode, 201, res.body);
      const numberId: string = res.json().number.id;
      await t.store.db.execute('DELETE FROM api_keys WHERE number_id = $1', [numberId]);
      return {
        url: '/v1/api-keys',
        apiKey: t.tenantKey.key,
        payload: { whatsappNumberId: numberId },
        made: () => count(t, 'SELECT COUNT(*) AS n FROM api_keys WHERE number_id = $1', [numberId]),
      };
    },
  },
  {
    name: 'POST /v1/calls/permissions/request',
    status: 200,
    async prepare(t) {
      const peer = nextPeer();
      return {
        url: '/v1/calls/permissions/request',
        apiKey: t.numberA.key.key,
        payload: { to: `+${peer}` },
        made: async () => t.fake.requests.filter((r) => r.edge === 'messages' && r.body?.to === peer).length,
      };
    },
  },
];

for (const kind of storeKinds()) {
  describe(`a creation whose process dies between its commit and its Idempotency-Key's answer [${kind}]`, () => {
    let t: TestApp;
    before(async () => {
      const server = await startOnboardingServer();
      evo = server.evo;
      t = await buildTestApp(kind, {
        env: { ...server.env, WEBHOOK_ALLOW_INSECURE_URLS: 'true' },
        wrapDb: responseAnswersLost,
      });
    });
    after(async () => {
      await evo.close();
      await t.close();
    });

    for (const creation of creations) {
      test(`${creation.name}: a retry once the key counts as abandoned gets the first object`, async () => {
        const { url, apiKey, payload, made } = await creation.prepare(t);
        const key = `crash-${++serial}`;
        const post = () =>
          t.app.inject({ method: 'POST', url, headers: { 'x-api-key': apiKey, 'idempotency-key': key }, payload });
        const first = await post();
        assert.equal(first.statusCode, creation.status, first.body);
        await abandonKey(t, key);
        const retry = await post();
        assert.equal(retry.statusCode, creation.status, retry.body);
        assert.equal(retry.headers['idempotent-replayed'], 'true');
        assert.deepEqual(retry.json(), creation.replayed?.(first.json()) ?? first.json());
        assert.equal(await made(), 1, 'made once');
      });
    }
  });
}
