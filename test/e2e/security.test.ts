// Security (issue 6, item 5): a BOLA matrix over every route of /openapi.json that takes an id — another
// number's or another tenant's key gets 404 (or the spec's 403 scope code) and nothing changes; keys and
// provider secrets never appear in a response (but the one that issues them) nor in the logs (pino at
// trace, read from memory); wrong credentials of the right shape are 401; and the credential and
// signature comparisons go through crypto.timingSafeEqual (observed, not grepped).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Call } from '../../src/model/call.ts';
import { findCallForNumber } from '../../src/store/calls.ts';
import { listNumbersForTenant } from '../../src/store/numbers.ts';
import { getWebhookInScope } from '../../src/store/webhooks.ts';
import { CANNED_ANSWER_SDP } from '../fakes/meta-graph.ts';
import { callIn, nextPeer, outbox } from '../helpers/calls.ts';
import { countEventsForNumber, listApiKeysForTenant } from '../helpers/store-reads.ts';
import { storeKinds, TEST_SECRET_KEY } from '../helpers/stores.ts';
import { buildHostileApp, type HostileApp, type HostileNumber, responseProblems } from './hostile-app.ts';

type Json = Record<string, unknown>;

interface Route {
  method: string;
  path: string;
  body: Json | null;
  secured: boolean;
  stream: boolean;
}

function routesOf(doc: Json): Route[] {
  const routes: Route[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const [method, raw] of Object.entries(item)) {
      const op = raw as Json;
      const content = (op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
      routes.push({
        method: method.toUpperCase(),
        path,
        body: content ? ((Object.values(content)[0]?.schema ?? {}) as Json) : null,
        secured: Array.isArray(op.security) && op.security.length > 0,
        stream: /event-stream/.test(JSON.stringify((op.responses as Json | undefined)?.['200'] ?? {})),
      });
    }
  }
  return routes;
}

/** Number routes either key may call (Pilot): a number key reaches its own number only. */
const NUMBER_KEY_ROUTES = /^\/v1\/numbers\/\{id\}\/(status|connect)$/;

type Kind = 'call' | 'number' | 'webhook';
const NOT_FOUND: Record<Kind, string> = {
  call: 'CALL_NOT_FOUND',
  number: 'NUMBER_NOT_FOUND',
  webhook: 'WEBHOOK_NOT_FOUND',
};

/** What an id in this path names; null for a path without one. Unknown id routes fail the suite (they need a row here). */
function kindOf(path: string): Kind | 'unknown' | null {
  if (!path.includes('{')) {
    return null;
  }
  if (path.startsWith('/v1/calls/{callId}') || path.startsWith('/v1/sandbox/calls/{callId}')) {
    return 'call';
  }
  if (path.startsWith('/v1/numbers/{id}') || path.startsWith('/v1/api-keys/{numberId}')) {
    return 'number';
  }
  if (path.startsWith('/v1/webhooks/{id}')) {
    return 'webhook';
  }
  if (path.startsWith('/providers/')) {
    return null; // authenticated by the provider's own secret, covered below
  }
  return 'unknown';
}

/** A valid body for a route, built from its schema (required fields, and the overrides wherever they fit). */
function exampleOf(schema: Json, overrides: Json, name?: string): unknown {
  if (name !== undefined && name in overrides) {
    return overrides[name];
  }
  if ('const' in schema) {
    return schema.const;
  }
  if (Array.isArray(schema.enum)) {
    return schema.enum[0];
  }
  const union = (schema.anyOf ?? schema.oneOf) as Json[] | undefined;
  if (union?.length) {
    return exampleOf(union.find((s) => s.type !== 'null') ?? union[0]!, overrides);
  }
  switch (Array.isArray(schema.type) ? schema.type[0] : schema.type) {
    case 'string':
      if (typeof schema.pattern === 'string') {
        return fc.sample(fc.stringMatching(new RegExp(schema.pattern)), { numRuns: 1, seed: 7 })[0];
      }
      if (schema.format === 'uri') {
        return 'https://hooks.example.com/cg';
      }
      if (schema.format === 'date-time') {
        return new Date().toISOString();
      }
      return 'x'.repeat(Math.max(1, Number(schema.minLength ?? 1)));
    case 'integer':
    case 'number':
      return Number(schema.minimum ?? 1);
    case 'boolean':
      return false;
    case 'array':
      return Array.from({ length: Number(schema.minItems ?? 0) }, () =>
        exampleOf((schema.items ?? {}) as Json, overrides),
      );
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, Json>;
      const required = new Set((schema.required ?? []) as string[]);
      const out: Json = {};
      for (const [k, s] of Object.entries(props)) {
        if (required.has(k) || k in overrides) {
          out[k] = exampleOf(s, overrides, k);
        }
      }
      return out;
    }
    default:
      return {};
  }
}

interface Seen {
  i: number;
  what: string;
  status: number;
  headers: string;
  body: string;
}

for (const kind of storeKinds()) {
  describe(`security [${kind}]`, { concurrency: 1 }, () => {
    let h: HostileApp;
    let routes: Route[];
    let numberE: { id: string; key: { id: string; key: string }; instanceToken: string; instanceId: string };
    let callsA: Call[];
    let callB: Call;
    let webhookA: string;
    let webhookB: string;
    let eventA: string;
    const seen: Seen[] = [];
    /** Credentials and secrets: none may appear in a response other than the one that issued it, nor in any log line. */
    const secrets = new Map<string, { label: string; issuedBy: number | null }>();
    const secret = (value: string, label: string, issuedBy: number | null = null) => {
      if (value && !secrets.has(value)) {
        secrets.set(value, { label, issuedBy });
      }
    };

    /** Every request of the suite goes through here, so every response is checked for leaks at the end. */
    async function send(
      what: string,
      opts: { method?: string; url: string; headers?: Record<string, string>; payload?: unknown },
    ) {
      const res = await h.app.inject({
        method: (opts.method ?? 'GET') as 'GET',
        url: opts.url,
        headers: opts.headers ?? {},
        ...(opts.payload !== undefined ? { payload: opts.payload as string } : {}),
      });
      const i = seen.length;
      seen.push({ i, what, status: res.statusCode, headers: JSON.stringify(res.headers), body: res.body });
      const problems = responseProblems({
        method: opts.method ?? 'GET',
        url: opts.url,
        status: res.statusCode,
        headers: res.headers,
        body: res.body,
      });
      assert.deepEqual(problems, [], `${what}: ${res.statusCode} ${res.body.slice(0, 300)}`);
      // Whatever this response issues is its own to show, and nobody else's.
      if (res.statusCode < 300 && res.headers['content-type']?.includes('json')) {
        const body = res.json() as Json;
        const key = (body.apiKey ?? null) as { id?: string; key?: string } | null;
        if (key?.key) {
          secret(key.key, `issued key (${what})`, i);
        }
        if (key?.id) {
          secret(key.id, `issued key id (${what})`, i);
        }
        if (typeof body.secret === 'string') {
          secret(body.secret, `webhook secret (${what})`, i);
        }
      }
      return res;
    }

    /** A stream (SSE) never ends: over HTTP, its head and first chunk are what is checked. */
    async function sendStream(what: string, url: string, headers: Record<string, string>) {
      const ac = new AbortController();
      const res = await fetch(`${h.baseUrl}${url}`, { headers, signal: ac.signal });
      let body = '';
      if (res.ok && res.body) {
        const reader = res.body.getReader();
        const first = await reader.read();
        body = Buffer.from(first.value ?? new Uint8Array()).toString('utf8');
      } else {
        body = await res.text();
      }
      ac.abort();
      seen.push({
        i: seen.length,
        what,
        status: res.status,
        headers: JSON.stringify(Object.fromEntries(res.headers)),
        body,
      });
      return { status: res.status, contentType: res.headers.get('content-type') ?? '', body };
    }

    const as = (k: { key: string }) => ({ 'x-api-key': k.key });
    const asId = (k: { id: string }) => ({ 'x-api-key-id': k.id });

    before(async () => {
      h = await buildHostileApp(kind, { logLevel: 'trace' });
      routes = routesOf((await h.app.inject({ url: '/openapi.json' })).json() as Json);

      // A web (EVO_GO) number in tenant 1 too, so routes a META key cannot use at all still meet a foreign key.
      const evo = {
        baseUrl: 'https://evo.example.com',
        instanceId: 'inst-e-7c1d',
        instanceToken: 'evo-instance-token-E-4b9e2a71',
      };
      const created = await send('create EVO_GO number', {
        method: 'POST',
        url: '/v1/numbers',
        headers: as(h.tenantKey),
        payload: { name: 'Web E', phoneNumber: '+551140040009', provider: 'EVO_GO', evolution: evo },
      });
      assert.equal(created.statusCode, 201, created.body);
      numberE = {
        id: created.json().number.id,
        key: created.json().apiKey,
        instanceToken: evo.instanceToken,
        instanceId: evo.instanceId,
      };

      callsA = [await callIn(h, 'RINGING'), await callIn(h, 'ACCEPTED'), await callIn(h, 'COMPLETED')];
      callB = await callIn(h, 'RINGING', h.numberB);
      eventA = (await outbox(h, callsA[2]!))[0]!.id;
      const hook = async (n: HostileNumber) => {
        const res = await send(`webhook of ${n.id}`, {
          method: 'POST',
          url: '/v1/webhooks',
          headers: as(n.key),
          payload: { url: 'https://hooks.example.com/cg', events: ['*'] },
        });
        assert.equal(res.statusCode, 201, res.body);
        return res.json().id as string;
      };
      webhookA = await hook(h.numberA);
      webhookB = await hook(h.numberB);
      await hook(h.numberX);

      for (const [t, label] of [
        [h.tenantKey, 'tenant 1'],
        [h.tenant2Key, 'tenant 2'],
        [h.numberA.key, 'A'],
        [h.numberB.key, 'B'],
        [h.numberX.key, 'X'],
        [numberE.key, 'E'],
      ] as const) {
        secret(t.key, `${label} key`);
        secret(t.id, `${label} key id`);
      }
      for (const n of [h.numberA, h.numberB, h.numberX]) {
        secret(n.seed.accessToken, `access token ${n.seed.phoneNumberId}`);
        secret(n.seed.appSecret, `app secret ${n.seed.phoneNumberId}`);
        secret(n.seed.verifyToken, `verify token ${n.seed.phoneNumberId}`);
      }
      secret(numberE.instanceToken, 'evolution instance token');
      secret(TEST_SECRET_KEY, 'SECRET_KEY');
    });
    after(() => h.close());

    const snapshot = async () => ({
      calls: await Promise.all(callsA.map((c) => findCallForNumber(h.store.db, h.numberA.id, c.id))),
      webhook: await getWebhookInScope(h.store.db, { tenantId: h.tenantId, numberId: null }, webhookA),
      numbers: (await listNumbersForTenant(h.store.db, h.tenantId)).map((n) => `${n.id} ${n.updatedAt}`).sort(),
      keys: (await listApiKeysForTenant(h.store.db, h.tenantId))
        .map((k) => `${k.numberId} ${k.idHash} ${k.secretHash}`)
        .sort(),
      events: await countEventsForNumber(h.store.db, h.numberA.id),
      providerRequests: h.fake.requests.length,
    });

    test('every route of /openapi.json that takes an id is covered by the matrix', () => {
      const unknown = routes.filter((r) => kindOf(r.path) === 'unknown').map((r) => `${r.method} ${r.path}`);
      assert.deepEqual(unknown, [], 'an id route this suite does not know: give it a row in kindOf()');
      assert.ok(routes.filter((r) => kindOf(r.path) === 'call').length >= 6);
      assert.ok(routes.filter((r) => kindOf(r.path) === 'number').length >= 3);
      assert.ok(routes.filter((r) => kindOf(r.path) === 'webhook').length >= 6);
    });

    test("BOLA: another number's or tenant's key on every id route → 404 (or the 403 scope code), identical to an unknown id; nothing changes", async () => {
      const before = await snapshot();
      const matrix: string[] = [];
      const overrides = {
        sdp: CANNED_ANSWER_SDP,
        url: 'https://evil.example.com/steal',
        mediaUrl: 'https://media.example.com/a.mp3',
        eventId: eventA,
        active: false,
        events: ['*'],
      };
      const B = h.numberB.key;
      const X = h.numberX.key;
      const E = numberE.key;
      for (const route of routes) {
        const k = kindOf(route.path);
        if (k === null || k === 'unknown') {
          continue;
        }
        const victims =
          k === 'call'
            ? [callsA[0]!.id, callsA[0]!.externalCallId, callsA[1]!.id, callsA[2]!.externalCallId]
            : k === 'number'
              ? [h.numberA.id]
              : [webhookA];
        const unknownId =
          k === 'call'
            ? 'call_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P'
            : k === 'number'
              ? 'num_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P'
              : 'whk_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P';
        // [label, headers, expected status, expected code]: the scope is judged first, then the object within the key's reach.
        const attackers: [string, Record<string, string>, number, string][] =
          k === 'call'
            ? [
                ['number B (same tenant)', as(B), 404, NOT_FOUND.call],
                ['number B by key id', asId(B), 404, NOT_FOUND.call],
                ['web number E (same tenant)', as(E), 404, NOT_FOUND.call],
                ['number X (other tenant)', as(X), 404, NOT_FOUND.call],
                ['number X by key id', asId(X), 404, NOT_FOUND.call],
                ['tenant 1 (owner, wrong scope)', as(h.tenantKey), 403, 'TENANT_SCOPE_NOT_ALLOWED'],
                ['tenant 2', as(h.tenant2Key), 403, 'TENANT_SCOPE_NOT_ALLOWED'],
              ]
            : k === 'number'
              ? NUMBER_KEY_ROUTES.test(route.path)
                ? // Pilot lets a number key read and re-pair its own number: another number's is simply not found.
                  [
                    ['tenant 2', as(h.tenant2Key), 404, NOT_FOUND.number],
                    ['tenant 2 by key id', asId(h.tenant2Key), 404, NOT_FOUND.number],
                    ['number B (same tenant)', as(B), 404, NOT_FOUND.number],
                    ['number X (other tenant)', as(X), 404, NOT_FOUND.number],
                  ]
                : [
                    ['tenant 2', as(h.tenant2Key), 404, NOT_FOUND.number],
                    ['tenant 2 by key id', asId(h.tenant2Key), 404, NOT_FOUND.number],
                    ['number B (wrong scope)', as(B), 403, 'NUMBER_SCOPE_NOT_ALLOWED'],
                    ['number X (wrong scope)', as(X), 403, 'NUMBER_SCOPE_NOT_ALLOWED'],
                    ['number A itself (wrong scope)', as(h.numberA.key), 403, 'NUMBER_SCOPE_NOT_ALLOWED'],
                  ]
              : [
                  ['number B (same tenant)', as(B), 404, NOT_FOUND.webhook],
                  ['number B by key id', asId(B), 404, NOT_FOUND.webhook],
                  ['web number E', as(E), 404, NOT_FOUND.webhook],
                  ['number X (other tenant)', as(X), 404, NOT_FOUND.webhook],
                  ['tenant 2', as(h.tenant2Key), 404, NOT_FOUND.webhook],
                  ['tenant 2 by key id', asId(h.tenant2Key), 404, NOT_FOUND.webhook],
                ];
        const payload = route.body ? exampleOf(route.body, overrides) : undefined;
        for (const [label, headers, status, code] of attackers) {
          const url = (id: string) => route.path.replace(/\{[^}]+\}/, encodeURIComponent(id));
          const control = await send(`${route.method} ${route.path} unknown id as ${label}`, {
            method: route.method,
            url: url(unknownId),
            headers,
            payload,
          });
          for (const victim of victims) {
            const res = await send(`${route.method} ${route.path} as ${label}`, {
              method: route.method,
              url: url(victim),
              headers,
              payload,
            });
            const body = res.json();
            matrix.push(
              `${route.method} ${route.path} [${victim.slice(0, 12)}…] as ${label} → ${res.statusCode} ${body.code}`,
            );
            // The same answer as for an id that does not exist: no existence oracle.
            assert.deepEqual(
              [res.statusCode, body.code],
              [control.statusCode, control.json().code],
              `${route.method} ${route.path} as ${label}: victim vs unknown id`,
            );
            // A web number cannot pre-accept at all, a META one cannot play: FEATURE_NOT_SUPPORTED before any lookup
            // is the same for every id, so it says nothing either.
            if (res.statusCode === 400 && body.code === 'FEATURE_NOT_SUPPORTED' && status === 404) {
              continue;
            }
            assert.deepEqual(
              [res.statusCode, body.code],
              [status, code],
              `${route.method} ${route.path} as ${label}: ${res.body}`,
            );
          }
        }
      }
      console.log(`[bola ${kind}] ${matrix.length} attacks\n  ${matrix.filter((_, i) => i % 7 === 0).join('\n  ')}`);
      assert.deepEqual(
        await snapshot(),
        before,
        'no attack changed anything (calls, webhook, numbers, keys, events, provider requests)',
      );
      const stillMine = await send('A after the matrix', { url: '/v1/calls?limit=5', headers: as(h.numberA.key) });
      assert.equal(stillMine.statusCode, 200);
      assert.ok(stillMine.json().calls.some((c: { id: string }) => c.id === callsA[0]!.id));
    });

    test('BOLA through bodies, lists and replays: nothing of another number or tenant is reachable', async () => {
      const before = await snapshot();
      // A webhook for another tenant's number, or for a sibling number with a number key.
      const cross = await send('tenant 2 registers a webhook on A', {
        method: 'POST',
        url: '/v1/webhooks',
        headers: as(h.tenant2Key),
        payload: { url: 'https://evil.example.com/x', events: ['*'], whatsappNumberId: h.numberA.id },
      });
      assert.deepEqual([cross.statusCode, cross.json().code], [404, 'NUMBER_NOT_FOUND']);
      const sibling = await send('B registers a webhook on A', {
        method: 'POST',
        url: '/v1/webhooks',
        headers: as(h.numberB.key),
        payload: { url: 'https://evil.example.com/x', events: ['*'], whatsappNumberId: h.numberA.id },
      });
      assert.deepEqual([sibling.statusCode, sibling.json().code], [400, 'NUMBER_MISMATCH']);
      // Replaying A's event through B's own webhook, with B's key or the owning tenant's.
      for (const [label, headers] of [
        ['B', as(h.numberB.key)],
        ['tenant 1', as(h.tenantKey)],
      ] as const) {
        const replay = await send(`replay A's event via B's webhook as ${label}`, {
          method: 'POST',
          url: `/v1/webhooks/${webhookB}/replay`,
          headers,
          payload: { eventId: eventA },
        });
        assert.deepEqual([replay.statusCode, replay.json().code], [404, 'EVENT_NOT_FOUND'], replay.body);
      }
      // Lists show only what the key owns.
      const callsOfB = (
        await send('list calls as B', { url: '/v1/calls?limit=100', headers: as(h.numberB.key) })
      ).json().calls as { id: string; numberId: string }[];
      assert.ok(callsOfB.length > 0 && callsOfB.every((c) => c.numberId === h.numberB.id));
      // Lists are bare arrays (Pilot's shape).
      const hooksOfB = (
        await send('list webhooks as B', { url: '/v1/webhooks', headers: as(h.numberB.key) })
      ).json() as {
        id: string;
        whatsappNumberId: string;
      }[];
      assert.deepEqual(
        hooksOfB.map((w) => w.id),
        [webhookB],
      );
      const hooksOfT2 = (
        await send('list webhooks as tenant 2', { url: '/v1/webhooks', headers: as(h.tenant2Key) })
      ).json() as { whatsappNumberId: string }[];
      assert.ok(hooksOfT2.every((w) => w.whatsappNumberId === h.numberX.id));
      const numbersOfT2 = (
        await send('list numbers as tenant 2', { url: '/v1/numbers', headers: as(h.tenant2Key) })
      ).json() as { id: string }[];
      assert.deepEqual(
        numbersOfT2.map((n) => n.id),
        [h.numberX.id],
      );
      const keysOfT2 = (
        await send('list keys as tenant 2', { url: '/v1/api-keys', headers: as(h.tenant2Key) })
      ).json() as { numberId: string }[];
      assert.deepEqual(
        keysOfT2.map((k) => k.numberId),
        [h.numberX.id],
      );
      // An Idempotency-Key is the key's own: B reusing A's never replays A's stored response.
      const target = await callIn(h, 'RINGING');
      const first = await send('A rejects with an idempotency key', {
        method: 'POST',
        url: `/v1/calls/${target.id}/reject`,
        headers: { ...as(h.numberA.key), 'idempotency-key': 'shared-key-1' },
      });
      assert.equal(first.statusCode, 200, first.body);
      callsA.push(target);
      const mid = await snapshot();
      for (const [label, headers] of [
        ['B', as(h.numberB.key)],
        ['X', as(h.numberX.key)],
      ] as const) {
        const replay = await send(`${label} reuses A's idempotency key`, {
          method: 'POST',
          url: `/v1/calls/${target.id}/reject`,
          headers: { ...headers, 'idempotency-key': 'shared-key-1' },
        });
        assert.deepEqual(
          [replay.statusCode, replay.json().code, replay.headers['idempotent-replayed']],
          [404, 'CALL_NOT_FOUND', undefined],
        );
      }
      assert.deepEqual(await snapshot(), mid, 'the replays changed nothing');
      const { calls: _c, events: _e, providerRequests: _p, ...rest } = mid;
      const { calls: _c0, events: _e0, providerRequests: _p0, ...rest0 } = before;
      assert.deepEqual(rest, rest0, 'nor did the cross-number webhook registrations and replays');
      assert.deepEqual(mid.calls.slice(0, before.calls.length), before.calls);
    });

    test('x-api-key-id of the right shape but no key → 401 on every authenticated route; ids and secrets are not interchangeable', async () => {
      const wrongId = fc.sample(fc.stringMatching(/^key_[A-Za-z0-9]{32}$/), { numRuns: 1, seed: 3 })[0]!;
      const wrongSecret = fc.sample(fc.stringMatching(/^ps_[A-Za-z0-9]{40}$/), { numRuns: 1, seed: 4 })[0]!;
      const overrides = {
        sdp: CANNED_ANSWER_SDP,
        url: 'https://hooks.example.com/cg',
        eventId: eventA,
        to: `+${nextPeer()}`,
        events: ['*'],
      };
      const secured = routes.filter((r) => r.secured);
      assert.ok(secured.length >= 25, `authenticated routes found (${secured.length})`);
      for (const route of secured) {
        const k = kindOf(route.path);
        const id = k === 'call' ? callsA[0]!.id : k === 'number' ? h.numberA.id : k === 'webhook' ? webhookA : '';
        const url =
          route.path.replace(/\{[^}]+\}/, encodeURIComponent(id)) +
          (route.path === '/v1/calls/permissions' ? `?to=%2B${nextPeer()}` : '');
        const payload = route.body ? exampleOf(route.body, overrides) : undefined;
        for (const [label, headers] of [
          ['unknown key id', { 'x-api-key-id': wrongId }],
          ['unknown secret', { 'x-api-key': wrongSecret }],
          ['a key id sent as the secret', { 'x-api-key': h.numberA.key.id }],
          ['a secret sent as the key id', { 'x-api-key-id': h.numberA.key.key }],
          ['a Bearer token', { authorization: `Bearer ${h.numberA.key.key}` }],
          ['no credential', {}],
        ] as const) {
          const res = await send(`${route.method} ${route.path} with ${label}`, {
            method: route.method,
            url,
            headers,
            payload,
          });
          assert.deepEqual(
            [res.statusCode, res.json().code],
            [401, 'UNAUTHORIZED'],
            `${route.method} ${route.path} with ${label}: ${res.body}`,
          );
        }
      }
    });

    test('with API_KEY_ID_AUTH=false a valid key id is not a credential', async () => {
      const off = await buildHostileApp(kind, { logLevel: 'silent', env: { API_KEY_ID_AUTH: 'false' } });
      try {
        const byId = await off.app.inject({ url: '/v1/calls', headers: asId(off.numberA.key) });
        assert.deepEqual([byId.statusCode, byId.json().code], [401, 'UNAUTHORIZED']);
        assert.equal((await off.app.inject({ url: '/v1/calls', headers: as(off.numberA.key) })).statusCode, 200);
      } finally {
        await off.close();
      }
    });

    test('credential and signature checks go through crypto.timingSafeEqual, over every candidate', async () => {
      // Named imports of node:crypto are live bindings: a wrapper installed here is what the app calls.
      const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
      const original = crypto.timingSafeEqual;
      const calls: number[] = [];
      crypto.timingSafeEqual = ((a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
        calls.push(a.byteLength);
        return original(a, b);
      }) as typeof original;
      syncBuiltinESMExports();
      const during = async (fn: () => Promise<unknown>) => {
        calls.length = 0;
        await fn();
        return [...calls];
      };
      try {
        assert.ok(
          (await during(() => send('timing: x-api-key', { url: '/v1/calls?limit=1', headers: as(h.numberA.key) })))
            .length >= 1,
          'x-api-key',
        );
        assert.ok(
          (await during(() => send('timing: x-api-key-id', { url: '/v1/calls?limit=1', headers: asId(h.numberA.key) })))
            .length >= 1,
          'x-api-key-id',
        );

        const body = JSON.stringify(h.fake.buildWebhook(h.numberA.phoneNumberId, { statuses: [] }));
        const good = `sha256=${createHmac('sha256', h.numberA.appSecret).update(body).digest('hex')}`;
        const bad = `sha256=${createHmac('sha256', 'not-the-secret').update(body).digest('hex')}`;
        const meta = (signature: string) =>
          send('timing: meta webhook', {
            method: 'POST',
            url: '/providers/meta/webhook',
            headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
            payload: body,
          });
        assert.ok((await during(() => meta(good))).includes(32), 'a valid X-Hub-Signature-256');
        assert.ok((await during(() => meta(bad))).includes(32), 'a wrong X-Hub-Signature-256 of the right shape');

        // The subscription check compares with every META number's verify token, without stopping at a match.
        const metaNumbers = (await listNumbersForTenant(h.store.db, h.tenantId))
          .concat(await listNumbersForTenant(h.store.db, h.tenant2Id))
          .filter((n) => n.provider === 'META').length;
        for (const token of [h.numberA.verifyToken, h.numberX.verifyToken, 'no-such-token']) {
          const compared = await during(() =>
            send('timing: subscription', {
              url: `/providers/meta/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${encodeURIComponent(token)}`,
            }),
          );
          assert.equal(
            compared.length,
            metaNumbers,
            `every verify token compared (${token === 'no-such-token' ? 'no match' : 'a match'})`,
          );
        }

        // Evolution Go authenticates by the instance token in the body.
        const evolution = (instanceToken: string) =>
          send('timing: evolution webhook', {
            method: 'POST',
            url: `/providers/evolution/webhook/${numberE.id}`,
            headers: { 'content-type': 'application/json' },
            payload: JSON.stringify({ event: 'CallOffer', instanceId: numberE.instanceId, instanceToken, data: {} }),
          });
        if (routes.some((r) => r.path.startsWith('/providers/evolution/webhook'))) {
          assert.ok((await during(() => evolution('wrong-token'))).length >= 1, 'a wrong Evolution instance token');
        }
      } finally {
        crypto.timingSafeEqual = original;
        syncBuiltinESMExports();
      }
    });

    test('keys, ids and provider secrets appear in no response but the one that issued them', async () => {
      // A tour of every route with the rightful key, so successful bodies are checked too.
      const overrides = {
        sdp: CANNED_ANSWER_SDP,
        url: 'https://hooks.example.com/tour',
        eventId: eventA,
        to: `+${nextPeer()}`,
        events: ['*'],
        active: true,
      };
      for (const route of routes) {
        const k = kindOf(route.path);
        const headers =
          route.path.startsWith('/v1/numbers') || route.path.startsWith('/v1/api-keys')
            ? as(h.tenantKey)
            : as(h.numberB.key);
        if (route.method === 'DELETE' && k === 'number') {
          continue; // the tour keeps its numbers
        }
        const id = k === 'call' ? callB.id : k === 'number' ? h.numberB.id : k === 'webhook' ? webhookB : '';
        const query =
          route.path === '/v1/calls/permissions'
            ? `?to=%2B${nextPeer()}`
            : route.path === '/v1/calls/{callId}'
              ? '?includeSdp=1'
              : route.path === '/providers/meta/webhook' && route.method === 'GET'
                ? '?hub.mode=subscribe&hub.challenge=42&hub.verify_token=vt'
                : '';
        const url = route.path.replace(/\{[^}]+\}/, encodeURIComponent(id)) + query;
        const payload = route.body ? exampleOf(route.body, overrides) : undefined;
        if (route.stream) {
          for (const [label, who] of [
            ['B', as(h.numberB.key)],
            ['tenant 1', as(h.tenantKey)],
          ] as const) {
            const streamed = await sendStream(`tour ${route.path} as ${label}`, url, who);
            assert.equal(streamed.status, 200, `${route.path}: ${streamed.body}`);
            assert.match(streamed.contentType, /event-stream/);
          }
          continue;
        }
        const res = await send(`tour ${route.method} ${route.path}`, { method: route.method, url, headers, payload });
        if (route.path === '/v1/api-keys/{numberId}/regenerate' && res.statusCode === 200) {
          h.numberB.key = res.json().apiKey;
        }
      }
      for (const extra of ['/openapi.json', '/metrics', '/healthz', '/readyz']) {
        await send(`tour ${extra}`, { url: extra });
      }

      const leaks: string[] = [];
      for (const r of seen) {
        for (const [value, s] of secrets) {
          if (s.issuedBy === r.i) {
            continue;
          }
          if (r.body.includes(value) || r.headers.includes(value)) {
            leaks.push(`${s.label} in the response to "${r.what}" (${r.status})`);
          }
        }
      }
      assert.deepEqual(leaks, []);
      // The masked list really is masked.
      const masked = await send('masked keys', { url: '/v1/api-keys', headers: as(h.tenantKey) });
      for (const k of masked.json() as Json[]) {
        assert.deepEqual(Object.keys(k).sort(), [
          'createdAt',
          'displayName',
          'key',
          'keyId',
          'keyIdLast4',
          'keyLast4',
          'lastUsedAt',
          'number',
          'numberId',
          'revealable',
          'scope',
        ]);
        assert.equal(k.key, null, 'keys are stored hashed: never revealable');
      }
      assert.ok(seen.length > 300, `${seen.length} responses checked`);
      console.log(`[secrets ${kind}] ${seen.length} responses checked against ${secrets.size} secrets`);
    });

    test('keys and secrets never reach the logs (pino at trace), whatever the request', async () => {
      // The two ways in that carried them: a query-string verify token, and a request Node's parser refuses
      // (its error holds the raw bytes, x-api-key included).
      await send("subscription with A's verify token", {
        url: `/providers/meta/webhook?hub.mode=subscribe&hub.challenge=77&hub.verify_token=${h.numberA.verifyToken}`,
      });
      await send('subscription, encoded name', {
        url: `/providers/meta/webhook?hub.mode=subscribe&hub.challenge=78&hub%2Everify%5Ftoken=${h.numberB.verifyToken}`,
      });
      const port = Number(new URL(h.baseUrl).port);
      for (const bytes of [
        `GET /v1/calls HTTP/1.1\r\nHost: x\r\nx-api-key: ${h.numberA.key.key}\r\nbad header\r\n\r\n`,
        `GET /v1/calls HTTP/1.1\r\nHost: x\r\nx-api-key-id: ${h.numberB.key.id}\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
        `POST /v1/numbers HTTP/1.1\r\nHost: x\r\nx-api-key: ${h.tenantKey.key}\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n{}`,
      ]) {
        await new Promise<void>((resolve) => {
          const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
          socket.on('error', () => resolve());
          socket.on('close', () => resolve());
          socket.on('data', () => socket.end());
        });
      }
      // Bodies that carry secrets: a number's credentials, a bad login, a signed Meta webhook.
      h.fake.addNumber({
        phoneNumberId: '999000111',
        displayPhoneNumber: '551140049999',
        wabaId: '1',
        accessToken: 'EAAG-logged-token-z',
        appSecret: 'app-secret-z-logged',
      });
      await send('create a number (logged at trace)', {
        method: 'POST',
        url: '/v1/numbers',
        headers: as(h.tenantKey),
        payload: {
          name: 'Z',
          phoneNumber: '+551140049999',
          provider: 'META',
          meta: {
            phoneNumberId: '999000111',
            accessToken: 'EAAG-logged-token-z',
            appSecret: 'app-secret-z-logged',
            verifyToken: 'vt-z-logged',
          },
        },
      });
      secret('EAAG-logged-token-z', 'access token Z');
      secret('app-secret-z-logged', 'app secret Z');
      secret('vt-z-logged', 'verify token Z');
      await new Promise((r) => setTimeout(r, 50));

      // Pino writes Buffers as {"type":"Buffer","data":[...]}: read those as text too.
      const text = h.logLines
        .join('')
        .replace(/\{"type":"Buffer","data":\[([\d,]*)\]\}/g, (_m, bytes: string) =>
          Buffer.from(bytes ? bytes.split(',').map(Number) : []).toString('latin1'),
        );
      assert.ok(h.logLines.length > 20, `the logs were captured (${h.logLines.length} lines)`);
      assert.match(text, /"level":10/, 'trace lines included');
      const leaks = [...secrets]
        .filter(([value]) => text.includes(value))
        .map(([value, s]) => {
          const line = h.logLines.find((l) => l.includes(value)) ?? '(inside a Buffer)';
          return `${s.label}: ${line.slice(0, 300)}`;
        });
      assert.deepEqual(leaks, []);
    });
  });
}
