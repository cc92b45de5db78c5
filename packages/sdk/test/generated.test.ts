// The SDK's types are generated from the server; this fails when a route or schema changed and
// `npm run sdk:types` was not run (the committed files would describe another API).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GENERATED_DIR, generateSdkFiles } from '../../../scripts/generate-sdk-types.ts';
import { Callgate } from '../src/index.ts';

test('the committed generated files equal a fresh generation from the server (run `npm run sdk:types` if not)', async () => {
  const fresh = await generateSdkFiles();
  assert.deepEqual(Object.keys(fresh).sort(), ['error-codes.ts', 'openapi.json', 'openapi.ts']);
  for (const [name, text] of Object.entries(fresh)) {
    const committed = readFileSync(join(GENERATED_DIR, name), 'utf8');
    assert.ok(
      committed === text,
      `packages/sdk/src/generated/${name} is stale: run \`npm run sdk:types\` and commit the result`,
    );
  }
});

test('the generated types describe every /v1 route the server serves', async () => {
  const doc = JSON.parse(readFileSync(join(GENERATED_DIR, 'openapi.json'), 'utf8')) as {
    paths: Record<string, unknown>;
  };
  const types = readFileSync(join(GENERATED_DIR, 'openapi.ts'), 'utf8');
  const v1 = Object.keys(doc.paths).filter((p) => p.startsWith('/v1/'));
  assert.ok(v1.length >= 20, `expected the whole API, got ${v1.length} paths`);
  for (const p of v1) {
    assert.ok(types.includes(`"${p}": {`), `${p} is typed`);
  }
});

/**
 * The SDK method of each /v1 operation of the document, by operationId. A route added to the server fails this
 * test until the SDK has a method for it (or the route is named here as served by another method).
 */
const SDK_METHODS: Record<string, string> = {
  createNumber: 'numbers.create', // and numbers.createWeb (the web number's body)
  listNumbers: 'numbers.list',
  getOwnNumber: 'numbers.current',
  getNumber: 'numbers.get',
  updateNumber: 'numbers.update',
  deleteNumber: 'numbers.delete',
  getNumberStatus: 'numbers.status',
  connectNumber: 'numbers.connect',
  reconnectNumber: 'numbers.connect', // Pilot's GET form of the same action
  getCurrentApiKey: 'apiKeys.current',
  listApiKeys: 'apiKeys.list',
  createApiKey: 'apiKeys.create',
  regenerateApiKey: 'apiKeys.regenerate',
  regenerateApiKeyByNumber: 'apiKeys.regenerate', // Pilot's form with the number in the body
  getCallingSettings: 'calls.settings.get',
  updateCallingSettings: 'calls.settings.update',
  getCallPermission: 'calls.permissions.get',
  requestCallPermission: 'calls.permissions.request',
  createCall: 'calls.create',
  listCalls: 'calls.list',
  getCall: 'calls.get',
  listCallEvents: 'calls.events',
  preAcceptCall: 'calls.preAccept',
  acceptCall: 'calls.accept',
  rejectCall: 'calls.reject',
  playIntoCall: 'calls.play',
  stopPlay: 'calls.stopPlay',
  createRealtimeSession: 'calls.realtimeSession',
  getRecording: 'calls.recording',
  deleteRecording: 'calls.deleteRecording',
  openRealtimeSocket: 'calls.realtime', // the WebSocket; also openRealtime(wsUrl)
  createSandboxCall: 'sandbox.calls.create',
  getSandboxCall: 'sandbox.calls.get',
  pressSandboxKeys: 'sandbox.calls.pressKeys',
  listWebhookEventTypes: 'webhooks.eventTypes',
  createWebhook: 'webhooks.create',
  listWebhooks: 'webhooks.list',
  getWebhook: 'webhooks.get',
  updateWebhook: 'webhooks.update',
  deleteWebhook: 'webhooks.delete',
  rotateWebhookSecret: 'webhooks.rotateSecret',
  listWebhookLogs: 'webhooks.logs',
  replayWebhookEvent: 'webhooks.replay',
  streamEvents: 'events.stream',
  post_calls_callId_terminate: 'calls.terminate',
};

test('every /v1 operation of the document has an SDK method', () => {
  const doc = JSON.parse(readFileSync(join(GENERATED_DIR, 'openapi.json'), 'utf8')) as {
    paths: Record<string, Record<string, { operationId?: string }>>;
  };
  const client = new Callgate({ baseUrl: 'http://127.0.0.1:9', apiKey: 'ps_x', fetch: async () => new Response() });
  const missing: string[] = [];
  for (const [p, item] of Object.entries(doc.paths)) {
    if (!p.startsWith('/v1/')) {
      continue;
    }
    for (const [method, op] of Object.entries(item)) {
      const name = SDK_METHODS[op.operationId ?? ''];
      const fn = name?.split('.').reduce<unknown>((at, key) => (at as Record<string, unknown>)?.[key], client);
      if (typeof fn !== 'function') {
        missing.push(`${method.toUpperCase()} ${p} (${op.operationId}): ${name ?? 'no SDK method named'}`);
      }
    }
  }
  assert.deepEqual(missing, []);
});
