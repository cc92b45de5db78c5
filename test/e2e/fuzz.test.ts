// Hostile input over every route of the app's own /openapi.json (issue 6, item 4): fast-check builds
// requests — odd path params (other numbers' ids, %2F, unicode, 300 chars), random query strings, bodies
// valid-ish from the schema, mutated, of wrong types, deeply nested, huge, __proto__, not JSON, other content
// types — under random credentials. No response may be a 5xx (a 502 passing on a provider refusal excepted),
// every error must be the envelope {error, code, requestId}, and the process must stay up.
// Then oversized bodies, deep JSON and header abuse on raw sockets, and slow clients against a real server
// process, which must cut them off within its configured timeouts while serving everyone else.
// Reproduce a run with FUZZ_SEED=<seed printed at the end>; FUZZ_RUNS sets the count, FUZZ_TRACE=1 prints each request.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { CANNED_ANSWER_SDP, CANNED_OFFER_SDP } from '../fakes/meta-graph.ts';
import { callIn, nextPeer, outbox } from '../helpers/calls.ts';
import type { Json as AnyJson } from '../helpers/json.ts';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.ts';
import { storeKinds } from '../helpers/stores.ts';
import {
  buildHostileApp,
  type HostileApp,
  type HostileNumber,
  responseProblems,
  type SeenResponse,
} from './hostile-app.ts';

type Json = Record<string, unknown>;
type Schema = Json;

// ───────────────────────────── the API, as /openapi.json describes it ─────────────────────────────

interface Param {
  name: string;
  in: string;
  schema: Schema;
  required: boolean;
}
interface Operation {
  method: string;
  path: string;
  params: Param[];
  body: Schema | null;
  /** Answers with a stream that never ends (SSE): sent over HTTP and let go once its head is checked. */
  stream?: boolean;
}

function operationsOf(doc: Json): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const [method, raw] of Object.entries(item)) {
      const op = raw as Json;
      const params = ((op.parameters ?? []) as Json[]).map((p) => ({
        name: String(p.name),
        in: String(p.in),
        schema: (p.schema ?? {}) as Schema,
        required: p.required === true,
      }));
      const content = (op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
      const body = content ? ((Object.values(content)[0]?.schema ?? {}) as Schema) : null;
      const stream = /event-stream/.test(JSON.stringify((op.responses as Json | undefined)?.['200'] ?? {}));
      ops.push({ method: method.toUpperCase(), path, params, body, ...(stream ? { stream } : {}) });
    }
  }
  return ops;
}

/** Routes that are served but kept out of the OpenAPI document: fuzzed all the same. */
const UNDOCUMENTED: Operation[] = [
  { method: 'GET', path: '/openapi.json', params: [], body: null },
  { method: 'GET', path: '/metrics', params: [], body: null },
  { method: 'GET', path: '/docs', params: [], body: null },
  { method: 'GET', path: '/dashboard', params: [], body: null },
  { method: 'GET', path: '/dashboard/app.js', params: [], body: null },
  {
    method: 'GET',
    path: '/docs/{rest}',
    params: [{ name: 'rest', in: 'path', schema: {}, required: true }],
    body: null,
  },
  { method: 'GET', path: '/v1/{rest}', params: [{ name: 'rest', in: 'path', schema: {}, required: true }], body: null },
  {
    method: 'POST',
    path: '/{rest}',
    params: [{ name: 'rest', in: 'path', schema: {}, required: true }],
    body: { type: 'object' },
  },
];

// ───────────────────────────── live state the requests point into ─────────────────────────────

/** Ids and credentials that change while the fuzz runs (numbers get deleted, keys regenerated). */
interface Pools {
  number: string[];
  call: string[];
  webhook: string[];
  event: string[];
  keyId: string[];
  tenant: string[];
}

interface State {
  h: HostileApp;
  /** A, B (tenant 1) and X (tenant 2), replaced when a request deletes one or regenerates its key. */
  numbers: HostileNumber[];
  pools: Pools;
}

type PoolKind = keyof Pools;

// ───────────────────────────── arbitraries ─────────────────────────────

const ascii = (maxLength = 40) => fc.string({ unit: 'grapheme-ascii', maxLength });
const printable = (maxLength = 40) => ascii(maxLength).map((s) => s.replace(/[^\x20-\x7e]/g, ''));
const unicode = (maxLength = 30) => fc.string({ unit: 'binary', maxLength });

const ODD_SEGMENTS = [
  '%2F',
  'a%2Fb',
  '%2Fetc%2Fpasswd',
  '..',
  '%2e%2e',
  '..%2F..%2F',
  '%00',
  'a%00b',
  '%',
  '%ZZ',
  '%E0%A4%A',
  '%C0%AF',
  '%FF',
  '%F0%9F%92%A5',
  '💥',
  'ñ',
  'İ',
  '\u202e',
  ' ',
  '%20',
  '+',
  '=',
  '@',
  ':',
  '.',
  '-',
  '_',
  '~',
  '*',
  'null',
  'undefined',
  'NaN',
  '__proto__',
  'constructor',
  'prototype',
  '0',
  '-1',
  '1e309',
  "' OR 1=1--",
  '"; DROP TABLE calls;--',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell probe, meant literally
  '${jndi:ldap://x}',
  '<script>',
  '{{7*7}}',
  'call_',
  'num_',
  'whk_',
  'key_',
  'evt_',
  'tenant_',
  'call_00000000000000000000000000',
  'num_00000000000000000000000000',
  'whk_00000000000000000000000000',
  'wacid.HBgLNTUxMTk5OTk5OTk5FQIAEhggQzRFRkQ4RjA0NkE0QTQ4QjhFNEI3QTE2MjJGOEY2RDIcGAs1NTExNDAwNDAwMDAVAgAA',
  'wacid.a/b+c=',
  'a'.repeat(256),
  'a'.repeat(257),
  'a'.repeat(300),
  'a'.repeat(1024),
  'a'.repeat(1025),
  'a'.repeat(4000),
];

/** A path segment: a live id of some object (often another number's), or something odd. */
type Segment = { pool: PoolKind; index: number } | { text: string; encoding: 'encode' | 'raw' | 'double' };

const segmentArb: fc.Arbitrary<Segment> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      pool: fc.constantFrom<PoolKind>('number', 'call', 'webhook', 'event', 'keyId', 'tenant'),
      index: fc.nat(),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      text: fc.oneof(
        fc.constantFrom(...ODD_SEGMENTS),
        unicode(),
        printable(),
        fc.string({ minLength: 300, maxLength: 320 }),
        fc.stringMatching(/^[A-Za-z0-9._:@=+/-]{1,60}$/),
        fc.stringMatching(/^[A-Za-z0-9_]{1,64}$/),
      ),
      encoding: fc.constantFrom<'encode' | 'raw' | 'double'>('encode', 'encode', 'raw', 'double'),
    }),
  },
);

/** encodeURIComponent that survives lone surrogates (they become U+FFFD, as a client would send them). */
function encodeLoose(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
}

/** Raw: only what an HTTP request line can carry; anything else is percent-encoded. */
const rawSafe = (s: string) =>
  [...s].map((ch) => (/^[\x21-\x7e]$/.test(ch) && ch !== '#' && ch !== '?' ? ch : encodeLoose(ch))).join('');

interface QueryPart {
  name: string;
  value: string;
  encode: boolean;
}

function queryArb(op: Operation): fc.Arbitrary<QueryPart[] | string> {
  const declared = op.params.filter((p) => p.in === 'query');
  const names = fc.oneof(
    ...(declared.length ? [{ weight: 6, arbitrary: fc.constantFrom(...declared.map((p) => p.name)) }] : []),
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '__proto__',
        'constructor',
        '__proto__[polluted]',
        'limit[]',
        'a[b][c]',
        'includeSdp',
        'limit',
        'before',
        'to',
        'event',
        'hub.mode',
      ),
    },
    { weight: 1, arbitrary: printable(12) },
  );
  const values = fc.oneof(
    ...declared.map((p) => ({
      weight: 3,
      arbitrary: schemaArb(p.schema, p.name).map((v) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))),
    })),
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '',
        '0',
        '-1',
        '1',
        '101',
        '1e3',
        '1.5',
        'true',
        '1',
        'null',
        '[]',
        '{}',
        'subscribe',
        '2024-13-45T99:99:99Z',
        'yesterday',
        '+551140040000',
        'a'.repeat(5000),
      ),
    },
    { weight: 2, arbitrary: fc.oneof(unicode(), printable(), fc.integer().map(String)) },
  );
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant([] as QueryPart[]) },
    {
      weight: 6,
      arbitrary: fc.array(fc.record({ name: names, value: values, encode: fc.boolean() }), {
        minLength: 1,
        maxLength: 5,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '&&&',
        '=',
        '==&=',
        '?',
        '%',
        '%ZZ=1',
        'a=%E0%A4%A',
        'limit=1&limit=2',
        '__proto__[x]=1',
        'limit=1;before=x',
        '#frag',
      ),
    },
  );
}

const SDP = fc.oneof(
  fc.constantFrom(CANNED_ANSWER_SDP, CANNED_OFFER_SDP, 'v=0\r\n', 'v=0\n'),
  printable(200),
  unicode(50),
);
const URLS = fc.oneof(
  fc.constantFrom(
    'https://hooks.example.com/cg',
    'http://127.0.0.1:9/hook',
    'https://127.0.0.1/hook',
    'https://10.0.0.7/x',
    'https://nowhere.invalid/x',
    'ftp://hooks.example.com/',
    'javascript:alert(1)',
    'https://user:pw@hooks.example.com/',
    'https://[::1]/',
    'https://2130706433/',
    'file:///etc/passwd',
    'https://',
    `https://hooks.example.com/${'a'.repeat(2100)}`,
  ),
  // Cheaper to build than fc.webUrl() (which takes seconds to construct): scheme, host, port, path.
  fc
    .tuple(
      fc.constantFrom('https://', 'http://', 'HTTPS://', 'wss://', 'https:/', '//', ''),
      fc.oneof(
        fc.stringMatching(/^[a-z0-9-]{1,20}(\.[a-z0-9-]{1,10}){0,3}$/),
        fc.constantFrom('10.0.0.1', '[::1]', '169.254.169.254', '0', 'localhost', 'xn--80ak6aa92e.com'),
      ),
      fc.oneof(
        fc.constant(''),
        fc.integer({ min: 0, max: 70_000 }).map((p) => `:${p}`),
      ),
      printable(30).map((p) => `/${p}`),
    )
    .map((parts) => parts.join('')),
  printable(60),
);

let nameOverrides: Record<string, fc.Arbitrary<unknown>> = {};

/** Values valid-ish for a JSON schema (OpenAPI 3.1 flavour, as @fastify/swagger writes it). */
function schemaArb(schema: Schema, name?: string, depth = 0): fc.Arbitrary<unknown> {
  if (name && nameOverrides[name] && depth > 0) {
    return fc.oneof(
      { weight: 2, arbitrary: nameOverrides[name]! },
      { weight: 1, arbitrary: plainSchemaArb(schema, depth) },
    );
  }
  return plainSchemaArb(schema, depth);
}

function plainSchemaArb(schema: Schema, depth: number): fc.Arbitrary<unknown> {
  if ('const' in schema) {
    return fc.constant(schema.const);
  }
  if (Array.isArray(schema.enum)) {
    return fc.constantFrom(...(schema.enum as unknown[]));
  }
  const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (union?.length) {
    return fc.oneof(...union.map((s) => schemaArb(s, undefined, depth + 1)));
  }
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string': {
      if (typeof schema.pattern === 'string') {
        try {
          return fc.stringMatching(new RegExp(schema.pattern));
        } catch {
          /* a pattern JS cannot read: fall through */
        }
      }
      if (schema.format === 'date-time') {
        return fc
          .date({ min: new Date(0), max: new Date('2100-01-01'), noInvalidDate: true })
          .map((d) => d.toISOString());
      }
      if (schema.format === 'uri') {
        return URLS;
      }
      const min = Number(schema.minLength ?? 0);
      return fc.string({ minLength: min, maxLength: Math.max(min, Math.min(Number(schema.maxLength ?? 40), 40)) });
    }
    case 'integer':
      return fc.integer({ min: Number(schema.minimum ?? -1_000_000), max: Number(schema.maximum ?? 1_000_000) });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const min = Number(schema.minItems ?? 0);
      return fc.array(schemaArb((schema.items ?? {}) as Schema, undefined, depth + 1), {
        minLength: min,
        maxLength: Math.max(min, Math.min(Number(schema.maxItems ?? 3), 3)),
      });
    }
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      const keys = Object.keys(props);
      if (keys.length === 0) {
        return fc.dictionary(printable(10), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
      }
      const required = ((schema.required ?? []) as string[]).filter((k) => keys.includes(k));
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const k of keys) {
        model[k] = schemaArb(props[k]!, k, depth + 1);
      }
      return fc.record(model, { requiredKeys: required });
    }
    default:
      return fc.jsonValue({ maxDepth: 3 });
  }
}

/** Replace (or delete) the value at one path inside a JSON value. */
function mutate(value: unknown, junk: unknown, pick: number, remove: boolean): unknown {
  const copy = structuredClone(value);
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    if (path.length) {
      paths.push(path);
    }
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) {
        walk(x, [...path, i]);
      }
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        walk(x, [...path, k]);
      }
    }
  };
  walk(copy, []);
  if (paths.length === 0) {
    return junk;
  }
  const path = paths[pick % paths.length]!;
  let parent: AnyJson = copy;
  for (const key of path.slice(0, -1)) {
    parent = parent[key];
  }
  const last = path[path.length - 1]!;
  if (remove && !Array.isArray(parent)) {
    delete parent[last];
  } else {
    parent[last] = junk;
  }
  return copy;
}

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  'application/octet-stream',
  'application/json; charset=latin1',
  'application/json;charset=utf-16',
  'APPLICATION/JSON',
  'application/vnd.api+json',
  'application/jsonx',
  'application/json, text/plain',
  'application/json; boundary=x; charset=utf-8',
  '*/*',
  'json',
  ';',
  'application/',
  'text/html; charset=utf-8',
  'application/merge-patch+json',
  'application/x-ndjson',
  'image/png',
];

interface BodySpec {
  payload?: string | Buffer;
  contentType?: string;
  sign?: number;
  label: string;
}

function deep(n: number, kind: number): string {
  switch (kind % 4) {
    case 0:
      return '['.repeat(n) + ']'.repeat(n);
    case 1:
      return `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    case 2:
      return `{"calling":{"sip":${'['.repeat(n)}${']'.repeat(n)}}}`;
    default:
      return `{"entry":[{"changes":[{"value":${'{"x":'.repeat(n)}null${'}'.repeat(n)}}]}]}`;
  }
}

function bodyArb(op: Operation): fc.Arbitrary<BodySpec> {
  const valid = op.body ? schemaArb(op.body) : fc.jsonValue({ maxDepth: 2 });
  const json =
    (label: string) =>
    (v: unknown): BodySpec => ({ payload: JSON.stringify(v) ?? 'null', contentType: 'application/json', label });
  const validKeys = Object.keys((op.body?.properties ?? {}) as Json);
  const aKey = validKeys.length ? fc.constantFrom(...validKeys) : printable(8);
  return fc.oneof(
    { weight: 8, arbitrary: valid.map(json('valid')) },
    {
      weight: 5,
      arbitrary: fc
        .tuple(valid, fc.jsonValue({ maxDepth: 2 }), fc.nat(), fc.boolean())
        .map(([v, j, n, r]) => json('mutated')(mutate(v, j, n, r))),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(valid, printable(12), fc.jsonValue({ maxDepth: 1 }))
        .map(([v, k, j]) =>
          json('extra key')(v && typeof v === 'object' && !Array.isArray(v) ? { ...v, [k || 'x']: j } : v),
        ),
    },
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map(json('random json')) },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom('null', '42', '-0', '1e999', '"str"', '[]', 'true', '[{}]', '{}', '""', '[null]')
        .map((p) => ({ payload: p, contentType: 'application/json', label: 'wrong top type' })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 50, max: 20_000 }), fc.nat())
        .map(([n, k]) => ({ payload: deep(n, k), contentType: 'application/json', label: 'deep' })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(aKey, fc.integer({ min: 60_000, max: 1_200_000 }), fc.constantFrom('x', 'é', '\\u0000', '\\"'))
        .map(([k, n, ch]) => ({
          payload: `{"${k}":"${ch.repeat(Math.ceil(n / ch.length))}"}`,
          contentType: 'application/json',
          label: 'huge string',
        })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(valid, fc.constantFrom('__proto__', 'constructor', 'prototype')).map(([v, k]) => {
        const inner = JSON.stringify(v && typeof v === 'object' && !Array.isArray(v) ? v : {}).slice(1, -1);
        const evil = k === 'constructor' ? '{"prototype":{"polluted":true}}' : '{"polluted":true}';
        return {
          payload: `{"${k}":${evil}${inner ? `,${inner}` : ''}}`,
          contentType: 'application/json',
          label: 'proto',
        };
      }),
    },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.constantFrom(
            '{',
            '{"sdp"',
            '{"a":1}garbage',
            '\uFEFF{}',
            '{"a":1,}',
            "{'a':1}",
            'NaN',
            'undefined',
            '{"a":01}',
            '{"a":"\\x"}',
            '{"a":"\u0000"}',
            '[1,2',
            '',
          ),
          printable(80),
          unicode(40),
        )
        .map((p) => ({ payload: p, contentType: 'application/json', label: 'not json' })),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({
        payload: Buffer.concat([
          Buffer.from('{"sdp":"'),
          Buffer.from(b),
          Buffer.from([0xff, 0xfe, 0xc0]),
          Buffer.from('"}'),
        ]),
        contentType: 'application/json',
        label: 'invalid utf-8',
      })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.oneof(fc.constantFrom(...CONTENT_TYPES), printable(30)),
          fc.oneof(
            valid.map((v) => JSON.stringify(v) ?? ''),
            printable(60),
            fc.constant('a=1&b=2'),
          ),
        )
        .map(([ct, p]) => ({ payload: p, contentType: ct, label: 'other content type' })),
    },
    { weight: 2, arbitrary: fc.constant({ label: 'no body' }) },
    { weight: 1, arbitrary: fc.constant({ payload: '', contentType: 'application/json', label: 'empty json' }) },
  );
}

/** Meta-shaped webhook payloads around our numbers' phone_number_ids, signed (or not) by some app secret. */
function metaPayloadArb(pnids: string[], wacids: string[]): fc.Arbitrary<BodySpec> {
  const junk = fc.jsonValue({ maxDepth: 2 });
  const str = fc.oneof(printable(20), junk);
  const ts = fc.oneof(fc.integer({ min: 0, max: 4_102_444_800 }).map(String), fc.integer(), fc.constant('now'), junk);
  const call = fc.record(
    {
      id: fc.oneof(fc.constantFrom(...wacids), fc.stringMatching(/^wacid\.[A-Za-z0-9+/=]{4,40}$/), str),
      from: fc.oneof(fc.stringMatching(/^55119[0-9]{8}$/), str),
      to: fc.oneof(fc.constantFrom(...pnids), str),
      event: fc.oneof(fc.constantFrom('connect', 'terminate', 'ringing', 'accept'), str),
      direction: fc.oneof(fc.constantFrom('USER_INITIATED', 'BUSINESS_INITIATED'), str),
      timestamp: ts,
      status: fc.oneof(fc.constantFrom('COMPLETED', 'FAILED', 'Completed', 'RINGING', 'ACCEPTED', 'REJECTED'), str),
      session: fc.oneof(fc.record({ sdp_type: fc.constantFrom('offer', 'answer', 'x'), sdp: SDP }), junk),
      start_time: ts,
      end_time: ts,
      duration: fc.oneof(fc.integer(), junk),
      errors: fc.oneof(fc.array(fc.record({ code: fc.oneof(fc.integer(), junk), message: str })), junk),
      biz_opaque_callback_data: str,
    },
    { requiredKeys: [] },
  );
  const status = fc.record(
    {
      id: fc.oneof(fc.constantFrom(...wacids), str),
      type: fc.oneof(fc.constant('call'), str),
      status: fc.oneof(fc.constantFrom('RINGING', 'ACCEPTED', 'REJECTED'), str),
      timestamp: ts,
      recipient_id: str,
    },
    { requiredKeys: [] },
  );
  const message = fc.record(
    {
      from: str,
      id: str,
      timestamp: ts,
      type: fc.oneof(fc.constant('interactive'), str),
      interactive: fc.oneof(
        fc.record(
          {
            type: fc.constant('call_permission_reply'),
            call_permission_reply: fc.record(
              {
                response: fc.constantFrom('accept', 'reject', 'x'),
                is_permanent: fc.oneof(fc.boolean(), junk),
                expiration_timestamp: ts,
              },
              { requiredKeys: [] },
            ),
          },
          { requiredKeys: [] },
        ),
        junk,
      ),
    },
    { requiredKeys: [] },
  );
  const value = fc.record(
    {
      messaging_product: fc.oneof(fc.constant('whatsapp'), str),
      metadata: fc.oneof(
        fc.record(
          { phone_number_id: fc.oneof(fc.constantFrom(...pnids), str), display_phone_number: str },
          { requiredKeys: [] },
        ),
        junk,
      ),
      calls: fc.oneof(fc.array(call, { maxLength: 3 }), junk),
      statuses: fc.oneof(fc.array(status, { maxLength: 2 }), junk),
      contacts: fc.oneof(
        fc.array(fc.record({ wa_id: str, profile: fc.record({ name: str }) }, { requiredKeys: [] }), { maxLength: 2 }),
        junk,
      ),
      messages: fc.oneof(fc.array(message, { maxLength: 2 }), junk),
    },
    { requiredKeys: [] },
  );
  const payload = fc.record(
    {
      object: fc.oneof(fc.constant('whatsapp_business_account'), str),
      entry: fc.oneof(
        fc.array(
          fc.record(
            {
              id: str,
              time: ts,
              changes: fc.oneof(
                fc.array(
                  fc.record(
                    { field: fc.oneof(fc.constantFrom('calls', 'messages'), str), value: fc.oneof(value, junk) },
                    { requiredKeys: [] },
                  ),
                  { maxLength: 3 },
                ),
                junk,
              ),
            },
            { requiredKeys: [] },
          ),
          { maxLength: 3 },
        ),
        junk,
      ),
    },
    { requiredKeys: [] },
  );
  return fc
    .tuple(payload, fc.integer({ min: -1, max: 3 }))
    .map(([p, sign]) => ({ payload: JSON.stringify(p), contentType: 'application/json', sign, label: 'meta payload' }));
}

/** Which credential a request carries, resolved against the live keys when it is sent. */
type AuthSpec =
  | { kind: 'none' }
  | { kind: 'key' | 'id'; who: number }
  | { kind: 'garbage'; value: string; header: 'x-api-key' | 'x-api-key-id' | 'authorization' }
  | { kind: 'mixed'; key: number; id: number };

const authArb: fc.Arbitrary<AuthSpec> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('key' as const), who: fc.nat({ max: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('id' as const), who: fc.nat({ max: 4 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('garbage' as const),
      value: fc.oneof(
        fc.stringMatching(/^ps_[A-Za-z0-9]{32,40}$/),
        fc.stringMatching(/^key_[A-Za-z0-9]{32}$/),
        printable(40),
        fc.constantFrom(
          '',
          ' ',
          'ps_',
          'key_',
          'Bearer ps_x',
          'null',
          'a'.repeat(513),
          'a'.repeat(10_000),
          "ps_' OR '1'='1",
        ),
      ),
      header: fc.constantFrom<'x-api-key' | 'x-api-key-id' | 'authorization'>(
        'x-api-key',
        'x-api-key',
        'x-api-key-id',
        'authorization',
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('mixed' as const), key: fc.nat({ max: 4 }), id: fc.nat({ max: 4 }) }),
  },
);

interface RequestSpec {
  op: number;
  method: string | null;
  segments: Segment[];
  query: QueryPart[] | string;
  body: BodySpec;
  auth: AuthSpec;
  idempotencyKey: string | null;
  requestId: string | null;
  signature: string | null;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];

function requestArb(ops: Operation[], meta: fc.Arbitrary<BodySpec>): fc.Arbitrary<RequestSpec> {
  // Built once per operation (building arbitraries is the costly part, not drawing from them).
  const shared = {
    method: fc.oneof(
      { weight: 12, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
    ),
    segments: fc.array(segmentArb, { minLength: 4, maxLength: 4 }),
    auth: authArb,
    idempotencyKey: fc.oneof(
      { weight: 5, arbitrary: fc.constant(null) },
      { weight: 2, arbitrary: fc.oneof(printable(20), fc.constantFrom('', 'k', 'a'.repeat(256), 'a'.repeat(255))) },
    ),
    requestId: fc.oneof(
      { weight: 5, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.oneof(printable(30), fc.constantFrom('a'.repeat(129), '<script>', 'req_1')) },
    ),
    signature: fc.oneof(
      { weight: 4, arbitrary: fc.constant(null) },
      {
        weight: 1,
        arbitrary: fc.oneof(
          printable(80),
          fc.stringMatching(/^sha256=[0-9a-f]{64}$/),
          fc.constantFrom('sha256=', 'sha1=abc', `sha256=${'0'.repeat(63)}`),
        ),
      },
    ),
  };
  return fc.oneof(
    ...ops.map((op, i) => {
      const isMetaWebhook = op.path === '/providers/meta/webhook' && op.method === 'POST';
      return fc.record({
        ...shared,
        op: fc.constant(i),
        query: queryArb(op),
        body: isMetaWebhook
          ? fc.oneof({ weight: 3, arbitrary: meta }, { weight: 1, arbitrary: bodyArb(op) })
          : bodyArb(op),
      });
    }),
  );
}

// ───────────────────────────── turning a spec into a request ─────────────────────────────

interface Built {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
  route: string;
}

function credentials(s: State) {
  const [a, b, x] = s.numbers as [HostileNumber, HostileNumber, HostileNumber];
  // tenant 1, tenant 2, A, B, X
  return [s.h.tenantKey, s.h.tenant2Key, a.key, b.key, x.key];
}

function build(s: State, ops: Operation[], spec: RequestSpec): Built {
  const op = ops[spec.op]!;
  const method = spec.method ?? op.method;
  let n = 0;
  const path = op.path.replace(/\{[^}]+\}/g, () => {
    const seg = spec.segments[n++ % spec.segments.length]!;
    if ('pool' in seg) {
      const pool = s.pools[seg.pool];
      return encodeLoose(pool.length ? pool[seg.index % pool.length]! : 'none');
    }
    if (seg.encoding === 'raw') {
      return rawSafe(seg.text);
    }
    if (seg.encoding === 'double') {
      return encodeLoose(encodeLoose(seg.text));
    }
    return encodeLoose(seg.text);
  });
  const query =
    typeof spec.query === 'string'
      ? spec.query
      : spec.query
          .map(
            (q) =>
              `${q.encode ? encodeLoose(q.name) : rawSafe(q.name)}=${q.encode ? encodeLoose(q.value) : rawSafe(q.value)}`,
          )
          .join('&');
  const url = query ? `${path}?${query}` : path;

  const headers: Record<string, string> = {};
  const creds = credentials(s);
  const a = spec.auth;
  if (a.kind === 'key') {
    headers['x-api-key'] = creds[a.who]!.key;
  } else if (a.kind === 'id') {
    headers['x-api-key-id'] = creds[a.who]!.id;
  } else if (a.kind === 'mixed') {
    headers['x-api-key'] = creds[a.key]!.key;
    headers['x-api-key-id'] = creds[a.id]!.id;
  } else if (a.kind === 'garbage') {
    headers[a.header] = a.header === 'authorization' ? `Bearer ${creds[2]!.key}` : a.value;
  }
  if (spec.idempotencyKey !== null) {
    headers['idempotency-key'] = spec.idempotencyKey;
  }
  if (spec.requestId !== null) {
    headers['x-request-id'] = spec.requestId;
  }

  const body = spec.body;
  if (body.contentType !== undefined) {
    headers['content-type'] = body.contentType;
  }
  if (body.sign !== undefined && body.sign >= 0 && body.payload !== undefined) {
    const secret = body.sign < 3 ? s.numbers[body.sign]!.appSecret : 'not-our-secret';
    headers['x-hub-signature-256'] = `sha256=${createHmac('sha256', secret).update(body.payload).digest('hex')}`;
  } else if (spec.signature !== null) {
    headers['x-hub-signature-256'] = spec.signature;
  }
  return {
    method,
    url,
    headers,
    ...(body.payload !== undefined ? { payload: body.payload } : {}),
    route: `${method} ${op.path}`,
  };
}

/** Keeps the fuzz meaningful: a deleted number comes back, a regenerated key is used from then on, new ids join the pools. */
async function learn(s: State, b: Built, status: number, body: string): Promise<void> {
  let id = b.url.split('?')[0]!.split('/')[3] ?? '';
  try {
    id = decodeURIComponent(id);
  } catch {
    /* not an id of ours */
  }
  let json: Json | null = null;
  try {
    json = JSON.parse(body) as Json;
  } catch {
    /* not JSON */
  }
  if (b.route === 'DELETE /v1/numbers/{id}' && status === 200) {
    const i = s.numbers.findIndex((n) => n.id === id);
    if (i !== -1) {
      s.numbers[i] = await s.h.recreateNumber(s.numbers[i]!);
      s.pools.number.push(s.numbers[i]!.id);
      s.pools.keyId.push(s.numbers[i]!.key.id);
    }
  }
  // Pilot's form names the number in the body (or x-whatsapp-number-id); both answer the numberId.
  const regenerated =
    (b.route === 'POST /v1/api-keys/{numberId}/regenerate' || b.route === 'POST /v1/api-keys/regenerate') &&
    status === 200;
  if (regenerated && json) {
    const n = s.numbers.find((x) => x.id === json.numberId);
    if (n) {
      n.key = json.apiKey as HostileNumber['key'];
    }
    s.pools.keyId.push((json.apiKey as { id: string }).id);
  }
  if (json && status === 201 && typeof json.id === 'string') {
    (json.id.startsWith('whk_') ? s.pools.webhook : s.pools.call).push(json.id);
  }
  if (json && status === 201 && json.number && typeof (json.number as Json).id === 'string') {
    s.pools.number.push((json.number as Json).id as string);
  }
}

/**
 * The request over real HTTP. A stream (text/event-stream) is let go as soon as its head arrived; anything
 * else is read whole. Null when fetch itself refused to send it (a header value or URL it will not write).
 */
async function overHttp(
  baseUrl: string,
  b: Built,
  timeoutMs = 10_000,
): Promise<SeenResponse | { timeout: true } | null> {
  const ac = new AbortController();
  const timer = setTimeout(
    () => ac.abort(new DOMException(`no response within ${timeoutMs} ms`, 'TimeoutError')),
    timeoutMs,
  );
  try {
    const withBody = b.payload !== undefined && b.method !== 'GET' && b.method !== 'HEAD';
    const res = await fetch(`${baseUrl}${b.url}`, {
      method: b.method,
      headers: b.headers,
      signal: ac.signal,
      ...(withBody ? { body: b.payload as string } : {}),
    });
    const streaming = (res.headers.get('content-type') ?? '').includes('event-stream');
    if (streaming) {
      ac.abort();
    }
    const body = streaming ? '' : await res.text();
    return { method: b.method, url: b.url, status: res.status, headers: Object.fromEntries(res.headers), body };
  } catch (error) {
    if (ac.signal.aborted && (ac.signal.reason as Error)?.name === 'TimeoutError') {
      return { timeout: true };
    }
    // fetch refusing a header value or URL (a client-side TypeError); a server that hung up is "fetch failed".
    if (error instanceof TypeError && !/fetch failed/.test(error.message)) {
      return null;
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

// ───────────────────────────── bookkeeping ─────────────────────────────

interface Tally {
  requests: number;
  byStatus: Map<number, number>;
  byRoute: Map<string, number>;
  msByRoute: Map<string, number>;
  failures: string[];
  clientRefused: number;
  logLines: string[];
}

const newTally = (logLines: string[]): Tally => ({
  requests: 0,
  byStatus: new Map(),
  byRoute: new Map(),
  msByRoute: new Map(),
  failures: [],
  clientRefused: 0,
  logLines,
});

function record(t: Tally, b: Built, r: SeenResponse, label: string, ms = 0): void {
  t.requests++;
  t.msByRoute.set(b.route, (t.msByRoute.get(b.route) ?? 0) + ms);
  t.byStatus.set(r.status, (t.byStatus.get(r.status) ?? 0) + 1);
  t.byRoute.set(b.route, (t.byRoute.get(b.route) ?? 0) + 1);
  const problems = responseProblems(r);
  if (problems.length && t.failures.length < 50) {
    t.failures.push(
      `${problems.join('; ')} ← ${b.method} ${b.url.slice(0, 160)} [${label}] headers=${JSON.stringify(b.headers).slice(0, 200)} ` +
        `body=${String(b.payload ?? '').slice(0, 160)} → ${r.status} ${r.body.slice(0, 300)}`,
    );
  }
}

/**
 * Known bug (src/http/routes/events/stream.ts, not ours to fix): HEAD on the SSE route runs the GET handler,
 * which hijacks the reply and only ever write()s — Node ignores writes to a HEAD response and sends its head on
 * end(), which never comes. The client waits for ever; the server polls the store every 100 ms until the socket goes.
 */
const isHeadOnStream = (op: Operation, b: Built) => op.stream === true && b.method === 'HEAD';

/** Sends over HTTP, recording the outcome; a HEAD on a stream gets 2 s and, if it hangs, counts as the known bug. */
async function sendOverHttp(
  t: Tally,
  baseUrl: string,
  op: Operation,
  b: Built,
  label: string,
): Promise<SeenResponse | null> {
  const t0 = performance.now();
  let r: SeenResponse | { timeout: true } | null;
  try {
    r = await overHttp(baseUrl, b, isHeadOnStream(op, b) ? 2_000 : 10_000);
  } catch (error) {
    t.failures.push(
      `fetch failed: ${(error as Error).message} ${(error as { cause?: Error }).cause?.message ?? ''} ← ${b.method} ${b.url.slice(0, 160)}`,
    );
    return null;
  }
  if (r === null) {
    t.clientRefused++;
    return null;
  }
  if ('timeout' in r) {
    t.failures.push(
      `no response within 10 s ← ${b.method} ${b.url.slice(0, 160)} headers=${JSON.stringify(b.headers).slice(0, 200)} (${String(b.payload ?? '').length} body chars)`,
    );
    return null;
  }
  record(t, b, r, label, performance.now() - t0);
  return r;
}

const summary = (t: Tally) =>
  [...t.byStatus.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([k, v]) => `${k}:${v}`)
    .join(' ') +
  ' | slowest routes ' +
  [...t.msByRoute.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([k, v]) => `${k} ${Math.round(v)} ms/${t.byRoute.get(k)}`)
    .join(', ');

// Anything thrown outside a request's own promise is a crash waiting to happen.
const stray: string[] = [];
process.on('uncaughtExceptionMonitor', (err) => {
  stray.push(`uncaught: ${err.stack ?? err}`);
});
process.on('unhandledRejection', (err) => {
  stray.push(`unhandled rejection: ${(err as Error)?.stack ?? err}`);
});

// ───────────────────────────── raw HTTP ─────────────────────────────

interface RawResult {
  status: number | null;
  head: string;
  body: string;
  closed: boolean;
  ms: number;
}

/** Writes bytes on a fresh socket and reads one response (or the close). */
function rawExchange(port: number, write: (socket: Socket) => void, timeoutMs = 5_000): Promise<RawResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean) => {
      if (done) {
        return;
      }
      done = true;
      clearTimeout(timer);
      const text = data.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      socket.destroy();
      resolve({
        status: m ? Number(m[1]) : null,
        head,
        body: split === -1 ? '' : data.subarray(Buffer.byteLength(text.slice(0, split + 4), 'latin1')).toString('utf8'),
        closed,
        ms: Date.now() - started,
      });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('connect', () => write(socket));
    socket.on('error', () => {
      /* a reset is a close */
    });
    socket.on('close', () => finish(true));
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const text = data.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split === -1) {
        return;
      }
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split));
      if (length && data.length >= Buffer.byteLength(text.slice(0, split + 4), 'latin1') + Number(length[1])) {
        setTimeout(() => finish(socket.destroyed), 20);
      }
    });
  });
}

const rawSeen = (method: string, url: string, r: RawResult): SeenResponse => {
  const headers: Record<string, unknown> = {};
  for (const line of r.head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) {
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
  }
  return { method, url, status: r.status ?? 0, headers, body: r.body };
};

/**
 * What Node's HTTP parser refuses is answered by our clientErrorHandler (src/app.ts) with the envelope;
 * these shapes are what Fastify's or Node's own default would write, and must not appear.
 */
const PARSER_ERROR_STATUSES = new Set([400, 408, 431]);
const isParserErrorBody = (body: string) =>
  /^\{"error":"[^"]+","message":"[^"]+","statusCode":\d{3}\}$/.test(body) || /^(0\r\n\r\n)?$/.test(body);

// ───────────────────────────── the suites ─────────────────────────────

const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2_147_483_647);

describe('hostile input', { concurrency: true }, () => {
  for (const kind of storeKinds()) {
    // PostgreSQL is slower per request; it gets a smaller share so the whole file stays around a minute.
    const injectRuns = Number(process.env.FUZZ_RUNS ?? (kind === 'sqlite' ? 10_000 : 2_500));
    const httpRuns = kind === 'sqlite' ? 800 : 200;

    describe(`fuzz every route of /openapi.json [${kind}]`, { concurrency: 1 }, () => {
      let s: State;
      let ops: Operation[];
      let requestSpecs: fc.Arbitrary<RequestSpec>;
      let tally: Tally;

      before(async () => {
        const h = await buildHostileApp(kind, { logLevel: 'warn' });
        tally = newTally(h.logLines);
        const doc = (await h.app.inject({ url: '/openapi.json' })).json() as Json;
        ops = [...operationsOf(doc), ...UNDOCUMENTED];
        assert.ok(ops.length >= 30, `the OpenAPI document lists the API (${ops.length} operations)`);

        // Objects of every number, for path params and bodies to point at.
        const calls = [];
        for (const n of [h.numberA, h.numberB, h.numberX]) {
          calls.push(await callIn(h, 'RINGING', n), await callIn(h, 'ACCEPTED', n), await callIn(h, 'COMPLETED', n));
        }
        const webhooks: string[] = [];
        for (const n of [h.numberA, h.numberB, h.numberX]) {
          const res = await h.app.inject({
            method: 'POST',
            url: '/v1/webhooks',
            headers: { 'x-api-key': n.key.key },
            payload: { url: 'https://hooks.example.com/cg', events: ['*'] },
          });
          assert.equal(res.statusCode, 201, res.body);
          webhooks.push(res.json().id);
        }
        const events = (await Promise.all(calls.map((c) => outbox(h, c)))).flat().map((e) => e.id);
        s = {
          h,
          numbers: [h.numberA, h.numberB, h.numberX],
          pools: {
            number: [h.numberA.id, h.numberB.id, h.numberX.id],
            call: calls.flatMap((c) => [c.id, c.externalCallId]),
            webhook: webhooks,
            event: events,
            keyId: [h.tenantKey.id, h.tenant2Key.id, h.numberA.key.id, h.numberB.key.id, h.numberX.key.id],
            tenant: [h.tenantId, h.tenant2Id],
          },
        };
        const peers = Array.from({ length: 5 }, () => `+${nextPeer()}`);
        nameOverrides = {
          sdp: SDP,
          url: URLS,
          to: fc.oneof(fc.constantFrom(...peers), fc.stringMatching(/^\+?[1-9][0-9]{6,14}$/)),
          eventId: fc.oneof(fc.constantFrom(...events), fc.stringMatching(/^evt_[A-Za-z0-9]{1,64}$/)),
          whatsappNumberId: fc.oneof(fc.constantFrom(...s.pools.number), fc.stringMatching(/^[A-Za-z0-9_]{1,64}$/)),
          phoneNumberId: fc.oneof(
            fc.constantFrom(h.numberA.phoneNumberId, h.numberX.phoneNumberId),
            fc.stringMatching(/^[0-9]{1,32}$/),
          ),
        };
        const metaArb = metaPayloadArb(
          [h.numberA.phoneNumberId, h.numberB.phoneNumberId, h.numberX.phoneNumberId, '0'],
          calls.map((c) => c.externalCallId),
        );
        requestSpecs = requestArb(ops, metaArb);
      });
      after(async () => {
        console.log(
          `[fuzz ${kind}] seed=${FUZZ_SEED} requests=${tally.requests} (client-refused ${tally.clientRefused}) statuses ${summary(tally)}`,
        );
        await s?.h.close();
      });

      test(`${injectRuns} generated requests (app.inject): no 5xx, every error the envelope, state kept usable`, {
        timeout: 120_000,
      }, async () => {
        let sinceFresh = 0;
        const failuresBefore = tally.failures.length;
        await fc.assert(
          fc.asyncProperty(requestSpecs, async (spec) => {
            // Keep ringing calls coming, so accept/reject/terminate meet live calls too.
            if (++sinceFresh % 1000 === 0) {
              for (const n of s.numbers) {
                // The fuzz may have turned calling off at the (fake) provider with a valid PUT /v1/calls/settings.
                await s.h.app.inject({
                  method: 'PUT',
                  url: '/v1/calls/settings',
                  headers: { 'x-api-key': n.key.key },
                  payload: { calling: { status: 'ENABLED' } },
                });
                try {
                  const c = await callIn(s.h, 'RINGING', n);
                  s.pools.call.push(c.id, c.externalCallId);
                } catch {
                  /* a number the fuzz left unable to receive calls: the pools keep their older calls */
                }
              }
            }
            const b = build(s, ops, spec);
            if (process.env.FUZZ_TRACE) {
              process.stderr.write(
                `FUZZ ${b.method} ${b.url.slice(0, 150)} ${JSON.stringify(b.headers).slice(0, 150)} ${String(b.payload ?? '').length}\n`,
              );
            }
            const t0 = performance.now();
            let seen: SeenResponse;
            if (ops[spec.op]!.stream) {
              // app.inject would wait for the end of a stream that never ends.
              const r = await sendOverHttp(tally, s.h.baseUrl, ops[spec.op]!, b, spec.body.label);
              if (r) {
                await learn(s, b, r.status, r.body);
              }
              return;
            } else {
              let res: Awaited<ReturnType<typeof s.h.app.inject>>;
              try {
                res = await s.h.app.inject({
                  method: b.method as 'GET',
                  url: b.url,
                  headers: b.headers,
                  ...(b.payload !== undefined ? { payload: b.payload } : {}),
                });
              } catch (error) {
                // light-my-request refusing to build the request (it never reached the app).
                if (/Invalid|URL|header/i.test(String((error as Error).message))) {
                  tally.clientRefused++;
                  return;
                }
                throw error;
              }
              seen = { method: b.method, url: b.url, status: res.statusCode, headers: res.headers, body: res.body };
            }
            record(tally, b, seen, spec.body.label, performance.now() - t0);
            await learn(s, b, seen.status, seen.body);
          }),
          { numRuns: injectRuns, seed: FUZZ_SEED, endOnFailure: true },
        );

        const failures = tally.failures.slice(failuresBefore);
        assert.deepEqual(failures, [], `seed ${FUZZ_SEED}: ${failures.length} bad responses`);
        assert.equal(({} as Json).polluted, undefined, 'Object.prototype was not polluted');
        const unexercised = ops
          .filter((op) => !tally.byRoute.has(`${op.method} ${op.path}`))
          .map((op) => `${op.method} ${op.path}`);
        assert.deepEqual(unexercised, [], 'every route got requests');
      });

      test(`${httpRuns} generated requests over real HTTP (fetch, 8 at a time): same rules`, {
        timeout: 60_000,
      }, async () => {
        const specs = fc.sample(requestSpecs, { numRuns: httpRuns, seed: FUZZ_SEED + 1 });
        const before = tally.requests;
        const failuresBefore = tally.failures.length;
        let next = 0;
        const worker = async () => {
          while (next < specs.length) {
            const spec = specs[next++]!;
            const b = build(s, ops, spec);
            const r = await sendOverHttp(tally, s.h.baseUrl, ops[spec.op]!, b, spec.body.label);
            if (r) {
              await learn(s, b, r.status, r.body);
            }
          }
        };
        await Promise.all(Array.from({ length: 8 }, worker));
        assert.deepEqual(tally.failures.slice(failuresBefore), [], `seed ${FUZZ_SEED}`);
        assert.ok(
          tally.requests - before >= httpRuns * 0.85,
          `most HTTP requests were sent (${tally.requests - before})`,
        );
      });

      test('oversized bodies → 413 PAYLOAD_TOO_LARGE on every body route (also chunked, without a length)', async () => {
        const big = JSON.stringify({ sdp: 'x'.repeat(1024 * 1024 + 10) });
        const bodyRoutes = ops.filter((op) => op.body && !op.path.includes('{rest}'));
        for (const op of bodyRoutes) {
          const url = op.path.replace(/\{[^}]+\}/g, () => encodeLoose(s.pools.call[0]!));
          const res = await s.h.app.inject({
            method: op.method as 'POST',
            url,
            headers: { 'x-api-key': credentials(s)[2]!.key, 'content-type': 'application/json' },
            payload: big,
          });
          const seen = { method: op.method, url, status: res.statusCode, headers: res.headers, body: res.body };
          record(tally, { method: op.method, url, headers: {}, route: `${op.method} ${op.path}` }, seen, 'oversized');
          assert.equal(res.statusCode, 413, `${op.method} ${op.path}: ${res.body}`);
          assert.equal(res.json().code, 'PAYLOAD_TOO_LARGE');
        }
        // The Meta webhook takes up to 4 MB; 5 MB is too much.
        const meta = await s.h.app.inject({
          method: 'POST',
          url: '/providers/meta/webhook',
          headers: { 'content-type': 'application/json' },
          payload: 'x'.repeat(5 * 1024 * 1024),
        });
        assert.equal(meta.statusCode, 413);
        assert.equal(meta.json().code, 'PAYLOAD_TOO_LARGE');
        // Chunked, no content-length: the limit still holds while streaming.
        const port = Number(new URL(s.h.baseUrl).port);
        const chunked = await rawExchange(
          port,
          (socket) => {
            socket.write(
              `POST /v1/numbers HTTP/1.1\r\nHost: x\r\nx-api-key: ${s.h.tenantKey.key}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`,
            );
            const chunk = 'a'.repeat(64 * 1024);
            for (let i = 0; i < 20; i++) {
              socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
            }
          },
          10_000,
        );
        tally.requests += 3;
        assert.equal(chunked.status, 413, chunked.head);
        assert.deepEqual(responseProblems(rawSeen('POST', '/v1/numbers', chunked)), []);
        // A content-length far above the limit is refused before a byte of it is read.
        const declared = await rawExchange(port, (socket) => {
          socket.write(
            `POST /v1/numbers HTTP/1.1\r\nHost: x\r\nx-api-key: ${s.h.tenantKey.key}\r\ncontent-type: application/json\r\ncontent-length: 10000000000\r\n\r\n{"a":`,
          );
        });
        assert.equal(declared.status, 413, declared.head);
        assert.deepEqual(responseProblems(rawSeen('POST', '/v1/numbers', declared)), []);
      });

      test('deep JSON (up to 100k levels) on every body route → 400 envelope or a refusal, never a crash', {
        timeout: 30_000,
      }, async () => {
        const failuresBefore = tally.failures.length;
        const bodyRoutes = ops.filter((op) => op.body && !op.path.includes('{rest}'));
        for (const op of bodyRoutes) {
          for (const [n, k] of [
            [10_000, 0],
            [10_000, 1],
            [100_000, 0],
            [100_000, 2],
          ] as const) {
            const url = op.path.replace(/\{[^}]+\}/g, () => encodeLoose(s.pools.call[0]!));
            const res = await s.h.app.inject({
              method: op.method as 'POST',
              url,
              payload: deep(n, k),
              headers: {
                'x-api-key': credentials(s)[url.startsWith('/v1/numbers') ? 0 : 2]!.key,
                'content-type': 'application/json',
                'idempotency-key': `deep-${n}-${k}-${op.path}`,
              },
            });
            const seen = { method: op.method, url, status: res.statusCode, headers: res.headers, body: res.body };
            record(tally, { method: op.method, url, headers: {}, route: `${op.method} ${op.path}` }, seen, 'deep');
            assert.ok(
              res.statusCode >= 400 && res.statusCode < 500,
              `${op.method} ${op.path} depth ${n}/${k}: ${res.statusCode} ${res.body.slice(0, 200)}`,
            );
          }
        }
        // POST routes without a body schema parse JSON all the same (terminate excepted: it never reads one).
        const bodyless = ops.filter((op) => op.method === 'POST' && !op.body && op.path.startsWith('/v1/'));
        for (const op of bodyless) {
          const url = op.path.replace(/\{[^}]+\}/g, () => encodeLoose(s.pools.call[0]!));
          const res = await s.h.app.inject({
            method: 'POST',
            url,
            payload: deep(100_000, 1),
            headers: { 'x-api-key': credentials(s)[2]!.key, 'content-type': 'application/json' },
          });
          const seen = { method: 'POST', url, status: res.statusCode, headers: res.headers, body: res.body };
          record(tally, { method: 'POST', url, headers: {}, route: `POST ${op.path}` }, seen, 'deep, no key');
          // The body is ignored: the action may even reach the provider (whose refusal is a 502 PROVIDER_ERROR).
          assert.deepEqual(responseProblems(seen), [], `${op.path} with a deep body: ${res.statusCode} ${res.body}`);
        }
        // Signed with our app secret, so the parser behind the signature check meets it too.
        for (const k of [0, 1, 3]) {
          const payload = deep(50_000, k);
          const res = await s.h.app.inject({
            method: 'POST',
            url: '/providers/meta/webhook',
            payload,
            headers: {
              'content-type': 'application/json',
              'x-hub-signature-256': `sha256=${createHmac('sha256', s.numbers[0]!.appSecret).update(payload).digest('hex')}`,
            },
          });
          record(
            tally,
            { method: 'POST', url: '/providers/meta/webhook', headers: {}, route: 'POST /providers/meta/webhook' },
            {
              method: 'POST',
              url: '/providers/meta/webhook',
              status: res.statusCode,
              headers: res.headers,
              body: res.body,
            },
            'deep signed',
          );
          assert.ok(res.statusCode < 500, `signed deep webhook ${k}: ${res.statusCode} ${res.body}`);
        }
        assert.deepEqual(tally.failures.slice(failuresBefore), []);
      });

      test('header abuse on raw sockets: huge, many, duplicated, malformed — refused cleanly, server keeps serving', {
        timeout: 30_000,
      }, async () => {
        const port = Number(new URL(s.h.baseUrl).port);
        const keyA = credentials(s)[2]!.key;
        const keyB = credentials(s)[3]!.key;
        const get = (headers: string) =>
          rawExchange(port, (socket) => socket.write(`GET /v1/calls?limit=1 HTTP/1.1\r\nHost: x\r\n${headers}\r\n`));
        const check = (name: string, r: RawResult, expected: number | null) => {
          tally.requests++;
          if (expected !== null) {
            assert.equal(r.status, expected, `${name}: ${r.head.split('\r\n')[0]} ${r.body.slice(0, 200)}`);
          }
          assert.ok(r.status !== null && r.status < 500, `${name}: ${r.status}`);
          if (PARSER_ERROR_STATUSES.has(r.status!) && isParserErrorBody(r.body)) {
            assert.ok(r.closed, `${name}: the connection is closed after a parser error`);
            assert.fail(`${name}: a parser error answered without the envelope: ${r.body}`);
          }
          assert.deepEqual(responseProblems(rawSeen('GET', '/v1/calls', r)), [], `${name}: ${r.body}`);
        };

        check('huge header (20 KB)', await get(`x-api-key: ${keyA}\r\nx-big: ${'a'.repeat(20_000)}\r\n`), 431);
        check('huge x-api-key (17 KB)', await get(`x-api-key: ps_${'a'.repeat(17_000)}\r\n`), 431);
        check(
          'headers just under the 16 KB limit',
          await get(
            `x-api-key: ${keyA}\r\n${Array.from({ length: 150 }, (_, i) => `x-pad-${i}: ${'b'.repeat(90)}\r\n`).join('')}`,
          ),
          200,
        );
        check('500 tiny headers, the key last', await get(`${'a:1\r\n'.repeat(500)}x-api-key: ${keyA}\r\n`), 200);
        check('500 tiny headers, the key first', await get(`x-api-key: ${keyA}\r\n${'a:1\r\n'.repeat(500)}`), 200);
        check(
          '3000 tiny headers (over 16 KB)',
          await get(`x-api-key: ${keyA}\r\n${Array.from({ length: 3000 }, (_, i) => `h${i}:1\r\n`).join('')}`),
          431,
        );
        check('two x-api-key headers, A and B', await get(`x-api-key: ${keyA}\r\nx-api-key: ${keyB}\r\n`), 401);
        check('two x-api-key headers, A twice', await get(`x-api-key: ${keyA}\r\nx-api-key: ${keyA}\r\n`), 401);
        check('x-api-key A and an empty one', await get(`x-api-key: ${keyA}\r\nx-api-key: \r\n`), 401);
        check(
          'two x-api-key-id headers',
          await get(`x-api-key-id: ${credentials(s)[2]!.id}\r\nx-api-key-id: ${credentials(s)[3]!.id}\r\n`),
          401,
        );
        check('x-api-key in another case', await get(`X-API-KEY: ${keyA}\r\n`), 200);
        check('x-api-key with latin-1 bytes', await get(`x-api-key: ps_\xe9\xe8\xff\r\n`), 401);
        check('x-api-key with a tab inside', await get(`x-api-key: ps_a\tb\r\n`), 401);
        check('x-api-key with a NUL', await get(`x-api-key: ps_a\x00b\r\n`), 400);
        check('obsolete line folding', await get(`x-api-key: ${keyA}\r\n  continued\r\n`), 400);
        check('header without a colon', await get(`x-api-key ${keyA}\r\n`), 400);
        check('space before the colon', await get(`x-api-key : ${keyA}\r\n`), 400);
        check(
          'two x-request-id headers',
          await get(`x-api-key: ${keyA}\r\nx-request-id: a\r\nx-request-id: b\r\n`),
          200,
        );
        check(
          'two idempotency keys on a GET',
          await get(`x-api-key: ${keyA}\r\nidempotency-key: a\r\nidempotency-key: b\r\n`),
          200,
        );
        check(
          'no Host header',
          await rawExchange(port, (socket) => socket.write(`GET /healthz HTTP/1.1\r\n\r\n`)),
          400,
        );
        check(
          'content-length and transfer-encoding together',
          await rawExchange(port, (socket) =>
            socket.write(
              `POST /v1/numbers HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`,
            ),
          ),
          400,
        );
        check(
          'two different content-lengths',
          await rawExchange(port, (socket) =>
            socket.write(
              `POST /v1/numbers HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}`,
            ),
          ),
          400,
        );
        check(
          'bad chunk size',
          await rawExchange(port, (socket) =>
            socket.write(
              `POST /v1/numbers HTTP/1.1\r\nHost: x\r\nx-api-key: ${s.h.tenantKey.key}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
            ),
          ),
          null,
        );
        check(
          'two content-types',
          await rawExchange(port, (socket) =>
            socket.write(
              `POST /v1/numbers HTTP/1.1\r\nHost: x\r\nx-api-key: ${s.h.tenantKey.key}\r\ncontent-type: application/json\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\n{}`,
            ),
          ),
          null,
        );
        check(
          'garbage request line',
          await rawExchange(port, (socket) => socket.write(`\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n`)),
          400,
        );
        check(
          'HTTP/0.9-style request',
          await rawExchange(port, (socket) => socket.write(`GET /healthz\r\n\r\n`)),
          null,
        );
        check(
          'absurd method',
          await rawExchange(port, (socket) => socket.write(`BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n`)),
          400,
        );
        check(
          'a 20 KB URL',
          await rawExchange(port, (socket) =>
            socket.write(`GET /v1/calls/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
          ),
          431,
        );
        check(
          'a body shorter than its content-length, then the client hangs up',
          await rawExchange(
            port,
            (socket) => {
              socket.write(
                `POST /v1/numbers HTTP/1.1\r\nHost: x\r\nx-api-key: ${s.h.tenantKey.key}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"name":`,
              );
              setTimeout(() => socket.end(), 50);
            },
            2_000,
          ),
          null,
        );

        // Pipelined requests on one socket, one of them bad: the good ones before it are answered.
        const pipelined = await rawExchange(
          port,
          (socket) => socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`),
          1_000,
        );
        assert.equal(pipelined.status, 200);

        // Still alive and serving.
        const alive = await fetch(`${s.h.baseUrl}/v1/calls?limit=1`, { headers: { 'x-api-key': keyA } });
        assert.equal(alive.status, 200);
      });

      test("client errors answered by Node's HTTP parser (400, 431, 408) carry the envelope too", async () => {
        const port = Number(new URL(s.h.baseUrl).port);
        const found: string[] = [];
        for (const [name, bytes] of [
          ['huge header', `GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`],
          ['header without a colon', `GET /healthz HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n`],
          ['HTTP/1.1 without Host', `GET /healthz HTTP/1.1\r\n\r\n`],
        ] as const) {
          const r = await rawExchange(port, (socket) => socket.write(bytes));
          const problems = responseProblems(rawSeen('GET', '/healthz', r));
          if (problems.length) {
            found.push(`${name} → ${r.head.split('\r\n')[0]} ${JSON.stringify(r.body)}: ${problems.join('; ')}`);
          }
        }
        assert.deepEqual(found, []);
      });

      test('a deeply nested body with an Idempotency-Key on a POST without a body schema → 4xx, not 500', async () => {
        const call = s.pools.call[0]!;
        const number = s.numbers[0]!;
        for (const [url, key] of [
          [`/v1/calls/${encodeLoose(call)}/reject`, number.key.key],
          [`/v1/webhooks/${s.pools.webhook[0]}/rotate-secret`, s.h.tenantKey.key],
          [`/v1/api-keys/${number.id}/regenerate`, s.h.tenant2Key.key],
        ] as const) {
          const res = await s.h.app.inject({
            method: 'POST',
            url,
            payload: deep(20_000, 1),
            headers: { 'x-api-key': key, 'content-type': 'application/json', 'idempotency-key': `deep-${url}` },
          });
          assert.ok(res.statusCode < 500, `${url}: ${res.statusCode} ${res.body}`);
        }
      });

      test('HEAD on the event stream is answered promptly (not a hanging stream)', async () => {
        const streams = ops.filter((op) => op.stream);
        assert.ok(streams.length > 0, 'the API has a stream route');
        for (const op of streams) {
          const b: Built = {
            method: 'HEAD',
            url: op.path,
            headers: { 'x-api-key': credentials(s)[2]!.key },
            route: `HEAD ${op.path}`,
          };
          const r = await overHttp(s.h.baseUrl, b, 2_000);
          assert.ok(r && !('timeout' in r), `HEAD ${op.path}: no response within 2 s`);
          assert.ok(r.status < 500, `HEAD ${op.path}: ${r.status}`);
        }
      });

      test('the process stayed up: nothing thrown outside a request, health still answers', async () => {
        assert.deepEqual(stray, []);
        const errors = s.h.logLines.filter((l) => /"level":(50|60)/.test(l));
        assert.deepEqual(
          errors.map((l) => l.slice(0, 400)),
          [],
          'no error-level log line (an exception swallowed on the way)',
        );
        const res = await fetch(`${s.h.baseUrl}/healthz`);
        assert.equal(res.status, 200);
        assert.ok(
          tally.requests >= 10_000 || kind !== 'sqlite' || process.env.FUZZ_RUNS,
          `at least 10,000 requests (${tally.requests})`,
        );
      });
    });
  }

  describe('slow clients against a real server process', { concurrency: 1 }, () => {
    let server: ServerProcess;
    let dir: string;
    const sockets: Socket[] = [];
    interface Slow {
      name: string;
      phase: 'headers' | 'body';
      closedAfter: number | null;
      received: string;
      bytesSent: number;
    }
    const slow: Slow[] = [];
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'callgate-slow-'));
      server = await startServerProcess({ DATA_DIR: dir });
    });
    after(async () => {
      // Slow clients still connected would hold the graceful shutdown until their own timeout.
      for (const socket of sockets) {
        socket.destroy();
      }
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    // src/app.ts: headers must arrive within 10 s and the whole request within 30 s; Node checks every second,
    // so a deadline D is enforced between D and D + 1 s.
    const HEADERS_TIMEOUT_MS = 10_000;
    const REQUEST_TIMEOUT_MS = 30_000;
    const CHECK_INTERVAL_MS = 1_000;
    const DEADLINE_MS = HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS + 5_000;
    const BODY_DEADLINE_MS = REQUEST_TIMEOUT_MS + CHECK_INTERVAL_MS + 5_000;
    const describeSlow = () =>
      slow
        .map(
          (x) =>
            `${x.name}: ${x.closedAfter === null ? `still open after ${DEADLINE_MS} ms` : `closed after ${x.closedAfter} ms`}, ` +
            `${x.bytesSent} bytes sent, got ${JSON.stringify(x.received.split('\r\n')[0] ?? '')}`,
        )
        .join('\n');

    test('headers sent byte by byte are cut off (408) within the request timeout; others are served meanwhile', {
      timeout: 120_000,
    }, async () => {
      const port = Number(new URL(server.url).port);
      const timers: NodeJS.Timeout[] = [];
      // The prefix is sent at once, then the rest one byte every 250 ms: never idle long enough for the
      // socket timeout, never finished.
      const open = (name: string, phase: Slow['phase'], prefix: string, drip: string) =>
        new Promise<Slow>((resolve) => {
          const x: Slow = { name, phase, closedAfter: null, received: '', bytesSent: 0 };
          slow.push(x);
          const started = Date.now();
          const socket = connect(port, '127.0.0.1', () => {
            if (prefix) {
              socket.write(prefix);
              x.bytesSent += prefix.length;
            }
          });
          sockets.push(socket);
          let i = 0;
          const timer = setInterval(() => {
            if (!socket.destroyed && i < drip.length) {
              socket.write(drip[i++]!);
              x.bytesSent++;
            }
          }, 250);
          timers.push(timer);
          socket.on('data', (d) => {
            x.received += d.toString('latin1');
          });
          socket.on('error', () => {
            /* reset: closed */
          });
          socket.on('close', () => {
            x.closedAfter = Date.now() - started;
            clearInterval(timer);
            resolve(x);
          });
        });

      const headerClosings = Array.from({ length: 5 }, (_, i) =>
        open(
          `headers byte by byte #${i}`,
          'headers',
          '',
          `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-${i}: ${'z'.repeat(1_000)}`,
        ),
      );
      // Never-finished bodies: judged by the next test, on the same clock.
      for (let i = 0; i < 5; i++) {
        void open(
          `body never finished #${i}`,
          'body',
          `POST /providers/meta/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n`,
          `{"entry":[${' '.repeat(1_000)}`,
        );
      }
      const served: number[] = [];
      const failures: string[] = [];
      let stop = false;
      const prober = (async () => {
        while (!stop) {
          const t0 = Date.now();
          try {
            const res = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(2_000) });
            if (res.status !== 200) {
              failures.push(`healthz ${res.status}`);
            } else {
              served.push(Date.now() - t0);
            }
          } catch (error) {
            failures.push(`healthz failed: ${(error as Error).message}`);
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      })();

      const closed = await Promise.race([
        Promise.all(headerClosings),
        new Promise<null>((r) => setTimeout(() => r(null), DEADLINE_MS)),
      ]);
      stop = true;
      await prober;
      for (const t of timers) {
        clearInterval(t);
      }
      console.log(
        `[slow clients]\n${describeSlow()}\nhealthz served ${served.length}× meanwhile, slowest ${Math.max(...served)} ms`,
      );

      assert.ok(closed, `every byte-by-byte header connection is closed within ${DEADLINE_MS} ms:\n${describeSlow()}`);
      for (const x of slow.filter((y) => y.phase === 'headers')) {
        assert.ok(
          x.closedAfter! >= HEADERS_TIMEOUT_MS - 1_000,
          `${x.name} was closed by the timeout, not before it (${x.closedAfter} ms)`,
        );
        assert.match(x.received, /^HTTP\/1\.1 408 /, `${x.name}: the server says 408 before closing`);
      }
      assert.deepEqual(failures, [], 'normal requests were served all along');
      assert.ok(served.length >= 15, `normal requests kept being served (${served.length})`);
      assert.ok(Math.max(...served) < 1_000, 'and promptly');
      assert.equal(server.child.exitCode, null, 'the server is still running');
    });

    test('a body that never finishes is cut off within the request timeout (30 s + the check interval)', {
      timeout: 60_000,
    }, async () => {
      const bodies = slow.filter((x) => x.phase === 'body');
      assert.equal(bodies.length, 5, 'the previous test opened them');
      const started = Date.now();
      while (bodies.some((x) => x.closedAfter === null) && Date.now() - started < BODY_DEADLINE_MS) {
        await new Promise((r) => setTimeout(r, 250));
      }
      const late = bodies.filter((x) => x.closedAfter === null || x.closedAfter > BODY_DEADLINE_MS);
      assert.deepEqual(
        late.map((x) => x.name),
        [],
        describeSlow(),
      );
      for (const x of bodies) {
        assert.ok(
          x.closedAfter! >= REQUEST_TIMEOUT_MS - 1_000,
          `${x.name} was not cut before the timeout (${x.closedAfter} ms)`,
        );
      }
    });
  });
});
