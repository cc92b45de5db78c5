// A web number (EVO_GO) on a test app, backed by the Evolution Go fake with its webhooks pointed at us.

import type { NumberId } from '../../src/ids.ts';
import type { Call, CallStatus } from '../../src/model/call.ts';
import { findCallForNumber } from '../../src/store/calls.ts';
import {
  type ExtensionMode,
  type ExtensionRoute,
  type FakeEvolution,
  startFakeEvolution,
} from '../fakes/evolution-go.ts';
import { eventually, type IssuedKey, type TestApp } from './build-test-app.ts';
import { nextPeer } from './calls.ts';

export interface WebNumber {
  id: NumberId;
  instanceId: string;
  token: string;
  key: IssuedKey;
  fake: FakeEvolution;
}

let counter = 0;

export async function addWebNumber(
  t: TestApp,
  extension: ExtensionMode = 'on',
  routes?: readonly ExtensionRoute[],
): Promise<WebNumber> {
  counter++;
  const instanceId = `7c9e6679-7425-40de-944b-${String(counter).padStart(12, '0')}`;
  const token = `evo-token-${counter}-${Math.random().toString(36).slice(2)}`;
  const ownNumber = `55119888${String(70000 + counter).padStart(5, '0')}`;
  const fake = await startFakeEvolution({
    instances: [{ id: instanceId, name: `web-${counter}`, token, ownNumber, extension, ...(routes ? { routes } : {}) }],
    webhookRetryIntervalMs: 50,
    maxConcurrentCalls: 100_000,
  });
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/numbers',
    headers: { 'x-api-key': t.tenantKey.key },
    payload: {
      name: `Web ${counter}`,
      phoneNumber: `+${ownNumber}`,
      provider: 'EVO_GO',
      evolution: { baseUrl: fake.baseUrl, instanceId, instanceName: `web-${counter}`, instanceToken: token },
    },
  });
  if (res.statusCode !== 201) {
    throw new Error(`web number: ${res.statusCode} ${res.body}`);
  }
  const body = res.json();
  fake.setWebhook(instanceId, `${t.baseUrl}/providers/evolution/webhook/${body.number.id}`);
  return { id: body.number.id, instanceId, token, key: body.apiKey, fake };
}

export async function webCall(t: TestApp, web: WebNumber, id: string): Promise<Call | null> {
  return findCallForNumber(t.store.db, web.id, id);
}

export async function webCallUntil(t: TestApp, web: WebNumber, id: string, status: CallStatus): Promise<Call> {
  return eventually(
    async () => {
      const c = await webCall(t, web, id);
      return c?.status === status ? c : null;
    },
    3000,
    `web call ${id} to be ${status}`,
  );
}

export async function ringingWebCall(t: TestApp, web: WebNumber): Promise<Call> {
  const callId = await web.fake.incomingCall({ instanceId: web.instanceId, from: nextPeer() });
  await web.fake.flush();
  return webCallUntil(t, web, callId, 'RINGING');
}

/** Answered: through our API when the server has the extension, on the phone otherwise. */
export async function answeredWebCall(t: TestApp, web: WebNumber, viaApi = true): Promise<Call> {
  const call = await ringingWebCall(t, web);
  if (viaApi) {
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/calls/${call.id}/accept`,
      headers: { 'x-api-key': web.key.key },
    });
    if (res.statusCode !== 200) {
      throw new Error(`accept: ${res.statusCode} ${res.body}`);
    }
  } else {
    await web.fake.phoneAnswers(call.externalCallId);
  }
  await web.fake.flush();
  return webCallUntil(t, web, call.id, 'ACCEPTED');
}

/**
 * callgate's own Evolution Go server, for web numbers onboarded by QR: the fake, with some other customer's instance
 * already on it, and the env (EVOLUTION_BASE_URL, EVOLUTION_GLOBAL_API_KEY) that points an app at it.
 */
export async function startOnboardingServer(): Promise<{ evo: FakeEvolution; env: Record<string, string> }> {
  const globalApiKey = 'evo-global-key-for-tests';
  const evo = await startFakeEvolution({
    instances: [{ id: 'other-instance', name: 'other', token: 'other-token', ownNumber: '5511900000000' }],
    globalApiKey,
    webhookRetryIntervalMs: 50,
  });
  return { evo, env: { EVOLUTION_BASE_URL: evo.baseUrl, EVOLUTION_GLOBAL_API_KEY: globalApiKey } };
}
