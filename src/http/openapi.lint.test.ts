// The API reference as an integrator meets it: /openapi.json passes `redocly lint` (redocly.yaml) with no error,
// every operation has a stable operationId and examples for its bodies, public routes say they take no key,
// /docs is branded as callgate's, and a request that breaks the schema hears about every problem at once.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { buildTestApp, type TestApp } from '../../test/helpers/build-test-app.ts';
import { seedSpecPath } from '../../test/helpers/seed-spec.ts';

const ROOT = join(import.meta.dirname, '../..');
const REDOCLY = join(ROOT, 'node_modules/@redocly/cli/bin/cli.js');
const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

interface Operation {
  operationId?: string;
  description?: string;
  tags?: string[];
  security?: unknown[];
  requestBody?: { content?: Record<string, { example?: unknown; examples?: unknown }> };
  responses: Record<string, { content?: Record<string, { example?: unknown; examples?: unknown }> }>;
}

describe('the API reference', () => {
  let t: TestApp;
  let doc: { paths: Record<string, Record<string, Operation>>; tags: { name: string; description: string }[] };
  let dir: string;
  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, path, op })),
    );

  before(async () => {
    t = await buildTestApp('sqlite');
    doc = (await t.app.inject({ url: '/openapi.json' })).json();
    dir = mkdtempSync(join(tmpdir(), 'callgate-openapi-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t.close();
  });

  test('redocly lint finds no error in the generated document', async () => {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const run = await promisify(execFile)(
      process.execPath,
      [REDOCLY, 'lint', file, '--config', join(ROOT, 'redocly.yaml'), '--format', 'json'],
      {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      },
    ).catch((error: { stdout: string; stderr: string }) => error);
    const report = JSON.parse(run.stdout) as {
      totals: { errors: number };
      problems: { ruleId: string; message: string; severity: string }[];
    };
    const errors = report.problems.filter((p) => p.severity === 'error');
    assert.deepEqual(
      errors.map((p) => `${p.ruleId}: ${p.message}`),
      [],
      'no lint errors',
    );
    assert.equal(report.totals.errors, 0);
  });

  test('every operation has a unique camelCase operationId (terminate keeps the Pilot contract’s)', () => {
    const ids = operations().map(({ name, op }) => {
      assert.ok(op.operationId, `${name} has an operationId`);
      return op.operationId;
    });
    assert.equal(new Set(ids).size, ids.length, 'unique');
    for (const id of ids) {
      if (id !== 'post_calls_callId_terminate') {
        assert.match(id ?? '', /^[a-z][A-Za-z]+$/, `${id} is camelCase`);
      }
    }
    assert.equal(doc.paths['/v1/calls/{callId}/terminate']?.post?.operationId, 'post_calls_callId_terminate');
    assert.equal(doc.paths['/v1/calls']?.get?.operationId, 'listCalls');
    // @fastify/websocket hides its routes; the realtime socket a wsUrl points at is part of the API all the same.
    assert.equal(doc.paths['/v1/media/realtime']?.get?.operationId, 'openRealtimeSocket');
  });

  test('every /v1 operation says what it does beyond its summary', () => {
    // /docs showed nothing under a summary for these, and "undefined" in the JSON a client generator reads.
    const bare = operations()
      .filter(({ path, op }) => path.startsWith('/v1/') && !op.description?.trim())
      .map(({ name }) => name);
    assert.deepEqual(bare, []);
  });

  test('no operation a SANDBOX number also serves is labelled META only', () => {
    // Pre-accept, permissions and settings said "(META)" while sandbox numbers answer them as Meta would.
    const metaOnly = operations()
      .filter(({ op }) => /\(META\)/.test(`${(op as { summary?: string }).summary ?? ''} ${op.description ?? ''}`))
      .map(({ name }) => name);
    assert.deepEqual(metaOnly, []);
    for (const [path, method] of [
      ['/v1/calls/{callId}/pre-accept', 'post'],
      ['/v1/calls/permissions', 'get'],
      ['/v1/calls/permissions/request', 'post'],
      ['/v1/calls/settings', 'get'],
      ['/v1/calls/settings', 'put'],
      ['/v1/calls', 'post'],
      ['/v1/numbers', 'post'],
    ] as const) {
      const op = doc.paths[path]?.[method] as (Operation & { summary?: string }) | undefined;
      assert.match(`${op?.summary} ${op?.description}`, /SANDBOX/, `${method.toUpperCase()} ${path} names SANDBOX`);
    }
  });

  test('every request and response body has an example; errors show their code and text', () => {
    for (const { name, op } of operations()) {
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
        assert.ok(media.example !== undefined || media.examples !== undefined, `${name} request ${type}`);
      }
      for (const [status, response] of Object.entries(op.responses)) {
        for (const [type, media] of Object.entries(response.content ?? {})) {
          assert.ok(media.example !== undefined || media.examples !== undefined, `${name} ${status} ${type}`);
        }
      }
    }
    const terminate = doc.paths['/v1/calls/{callId}/terminate']?.post;
    const notFound = terminate?.responses['404']?.content?.['application/json']?.example;
    assert.deepEqual(notFound, {
      error: 'Call not found',
      code: 'CALL_NOT_FOUND',
      requestId: 'req_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
    });
  });

  test('every keyed POST documents what its Idempotency-Key can answer: 409 in progress, 422 reused, 503 store', () => {
    const keyed = operations().filter(({ name, op }) => name.startsWith('POST ') && (op.security?.length ?? 0) > 0);
    assert.ok(keyed.length > 10);
    for (const { name, op } of keyed) {
      const described = (status: string) => (op.responses[status] as { description?: string } | undefined)?.description;
      assert.match(described('409') ?? '', /IDEMPOTENCY_IN_PROGRESS/, name);
      assert.match(described('422') ?? '', /IDEMPOTENCY_KEY_REUSED/, name);
      assert.match(described('503') ?? '', /STORE_UNAVAILABLE/, name);
    }
  });

  test('public routes say security: []; the others name the key; tags are described; servers are set', () => {
    for (const { name, path, op } of operations()) {
      // The realtime socket's credential is its single-use token, in the query.
      const isPublic =
        path === '/healthz' || path === '/readyz' || path === '/v1/media/realtime' || path.startsWith('/providers/');
      if (isPublic) {
        assert.deepEqual(op.security, [], `${name} takes no key`);
      } else {
        assert.ok((op.security?.length ?? 0) > 0, `${name} names its key`);
      }
      for (const tag of op.tags ?? []) {
        assert.ok(
          doc.tags.some((d) => d.name === tag && d.description.length > 10),
          `tag ${tag} is described`,
        );
      }
    }
    assert.deepEqual((doc as unknown as { servers: unknown }).servers, [
      { url: '/', description: 'This callgate server' },
    ]);
  });

  test('/docs is callgate’s own: title, logo, and an introduction to keys and errors', async () => {
    const page = await t.app.inject({ url: '/docs' });
    assert.equal(page.statusCode, 200);
    // Keys are typed there: no other page may frame it (clickjacking), and nothing is read as another type.
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.match(page.body, /<title>callgate API reference<\/title>/);
    const css = await t.app.inject({ url: '/docs/static/theme/callgate.css' });
    assert.equal(css.statusCode, 200);
    assert.match(css.body, /#0f766e/);
    const init = await t.app.inject({ url: '/docs/static/swagger-initializer.js' });
    assert.match(init.body, /data:image\/svg\+xml;base64,/, 'the logo replaces the stock one');
    const info = (doc as unknown as { info: { title: string; description: string } }).info;
    assert.equal(info.title, 'callgate API');
    assert.match(info.description, /## Authentication\n/);
    assert.match(info.description, /## Errors\n/);
    assert.match(info.description, /details\.issues/);
  });

  test('the introduction names every provider a number can have and says every POST takes an Idempotency-Key', () => {
    const providers = new Set<string>();
    const collect = (node: unknown): void => {
      if (node === null || typeof node !== 'object') {
        return;
      }
      const provider = (node as { properties?: { provider?: { enum?: string[]; const?: string } } }).properties
        ?.provider;
      for (const name of [...(provider?.enum ?? []), ...(provider?.const ? [provider.const] : [])]) {
        providers.add(name);
      }
      Object.values(node).forEach(collect);
    };
    collect(doc.paths);
    assert.deepEqual([...providers].sort(), ['EVO_GO', 'META', 'SANDBOX']);
    const intro = (doc as unknown as { info: { description: string } }).info.description;
    for (const provider of providers) {
      assert.ok(intro.includes(`\`${provider}\``), `the introduction names ${provider}`);
    }
    // The idempotency plugin covers every keyed POST (the test above), not only the provider actions.
    assert.match(intro, /Every POST accepts an\s+`Idempotency-Key`/);
  });

  test('a request that breaks the schema gets every problem listed, each pointing at its field', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: { 'x-api-key': t.numberA.key.key },
      payload: { events: ['call.nope', 'call.ended'], name: '', color: 'red' },
    });
    assert.equal(res.statusCode, 400);
    const body = res.json();
    assert.equal(body.code, 'VALIDATION_ERROR');
    const paths = body.details.issues.map((i: { path: string }) => i.path).sort();
    assert.deepEqual([...new Set(paths)], ['/color', '/events/0', '/name', '/url']);
    for (const issue of body.details.issues) {
      assert.equal(issue.in, 'body');
      assert.equal(typeof issue.message, 'string');
    }
  });

  test('a body that fits no shape of a union is told about the shape it came closest to', async () => {
    // POST /v1/numbers takes a registration or Pilot's {name, number}: a registration with one mistake is not
    // also told to drop its `provider` and add a `number`.
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/numbers',
      headers: { 'x-api-key': t.tenantKey.key },
      payload: { name: 'Try', provider: 'SANDBOX', phoneNumber: '12' },
    });
    assert.equal(res.statusCode, 400);
    const issues = res.json().details.issues;
    assert.deepEqual(
      issues.map((i: { in: string; path: string }) => `${i.in} ${i.path}`),
      ['body /phoneNumber'],
    );
    assert.match(issues[0].message, /must match pattern/);
    // A tie keeps every shape's complaints: a `before` is a time or a call id, and either may be what was meant.
    const page = await t.app.inject({
      method: 'GET',
      url: '/v1/calls?before=garbage',
      headers: { 'x-api-key': t.numberA.key.key },
    });
    assert.equal(page.statusCode, 400);
    assert.deepEqual(
      page.json().details.issues.map((i: { message: string }) => i.message),
      ['must match format "date-time"', 'must match pattern "^call_[0-9A-Z]{26}$"', 'must match a schema in anyOf'],
    );
    // Shapes that each miss one property: one issue names the choice ("mediaUrl" and "clear" listed apart read as
    // if both were needed).
    const play = await t.app.inject({
      method: 'POST',
      url: '/v1/calls/call_01JD0000000000000000000000/play',
      headers: { 'x-api-key': t.numberA.key.key },
      payload: {},
    });
    assert.equal(play.statusCode, 400);
    assert.deepEqual(
      play.json().details.issues.map((i: { path: string; message: string }) => `${i.path} ${i.message}`),
      ["/ must have one of the properties 'mediaUrl', 'clear'"],
    );
  });

  test('a body with thousands of problems gets the first 20 listed and truncated: true, in a small answer', async () => {
    const payload: Record<string, unknown> = { url: 'https://example.test/hook', events: ['call.ended'] };
    for (let i = 0; i < 20_000; i++) {
      payload[`p${i}`] = 1;
    }
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: { 'x-api-key': t.numberA.key.key },
      payload,
    });
    assert.equal(res.statusCode, 400);
    const body = res.json();
    assert.equal(body.code, 'VALIDATION_ERROR');
    assert.equal(body.details.issues.length, 20);
    assert.equal(body.details.truncated, true);
    assert.equal(body.details.issues[0].path, '/p0');
    assert.ok(res.body.length < 5_000, `answer of ${res.body.length} bytes`);
  });

  test('terminate is documented as the Pilot contract has it: parameter, response texts and examples', () => {
    const contract = parse(readFileSync(seedSpecPath, 'utf8')).paths['/v1/calls/{callId}/terminate'].post;
    const served = doc.paths['/v1/calls/{callId}/terminate']?.post as unknown as typeof contract;
    for (const field of ['operationId', 'summary', 'tags']) {
      assert.deepEqual(served[field], contract[field], field);
    }
    const param = (p: { name: string; in: string; description: string; example: string; required: boolean }) => ({
      name: p.name,
      in: p.in,
      description: p.description,
      example: p.example,
      required: p.required,
    });
    assert.deepEqual(served.parameters.map(param), contract.parameters.map(param));
    type Described = { description: string; content: { 'application/json': { example: Record<string, unknown> } } };
    for (const [status, response] of Object.entries(contract.responses as Record<string, Described>)) {
      const mine = (served.responses as Record<string, Described>)[status];
      assert.ok(mine, `${status} is documented`);
      assert.equal(mine.description, response.description, `${status} description`);
      const example = mine.content['application/json'].example;
      for (const [key, value] of Object.entries(response.content['application/json'].example)) {
        assert.equal(example[key], value, `${status} example ${key}`);
      }
    }
  });
});
