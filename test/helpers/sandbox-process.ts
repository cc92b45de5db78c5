// A server process with a sandbox number on it, for fault tests that need a real process and a call with server
// media but no Meta: the simulated caller is in the process.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueKey } from '../../src/auth/keys.ts';
import { newTenantId } from '../../src/ids.ts';
import { insertApiKey } from '../../src/store/api-keys.ts';
import { insertTenant } from '../../src/store/tenants.ts';
import { type ServerProcess, startServerProcess } from './server-process.ts';
import type { TestStore } from './stores.ts';

export function apiOf(base: string, key: string) {
  return async (method: string, url: string, body?: object) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { 'x-api-key': key, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

export type Api = ReturnType<typeof apiOf>;

/** A sandbox number on `server`, as the README's first run makes one. */
export async function sandboxNumber(store: TestStore, server: ServerProcess): Promise<Api> {
  const tenantId = newTenantId();
  const now = new Date().toISOString();
  const issued = issueKey(tenantId, null, now);
  await insertTenant(store.db, { id: tenantId, name: 'Acme', createdAt: now });
  await insertApiKey(store.db, issued.record);
  const created = await apiOf(server.url, issued.key)('POST', '/v1/numbers', { provider: 'SANDBOX', name: 'Try it' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return apiOf(server.url, created.body.apiKey.key);
}

/** A simulated caller playing 440 Hz, answered by callgate's own media. */
export async function answeredCall(api: Api, from: string): Promise<string> {
  const rang = await api('POST', '/v1/sandbox/calls', { from, audio: 'tone:440' });
  assert.equal(rang.status, 201, JSON.stringify(rang.body));
  const id: string = rang.body.call.id;
  const accepted = await api('POST', `/v1/calls/${id}/accept`, {});
  assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
  return id;
}

/** A server process on `store` with its media on loopback and its own RECORDINGS_DIR (the caller removes it). */
export async function startMediaServer(
  store: TestStore,
  env: Record<string, string> = {},
): Promise<{ server: ServerProcess; recordings: string }> {
  const recordings = mkdtempSync(join(tmpdir(), 'callgate-recordings-'));
  const server = await startServerProcess({
    ...store.env,
    MEDIA_PUBLIC_IP: '127.0.0.1',
    MEDIA_WARMUP: 'off',
    RECORDINGS_DIR: recordings,
    ...env,
  });
  return { server, recordings };
}
