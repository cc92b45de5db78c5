import { parseArgs } from 'node:util';
import { issueKey } from '../auth/keys.ts';
import type { Config } from '../config.ts';
import { newTenantId } from '../ids.ts';
import { insertApiKey } from '../store/api-keys.ts';
import { openStore } from '../store/open-store.ts';
import { insertTenant } from '../store/tenants.ts';

/** `tenants create --name X`: stdout carries the JSON and nothing else, so scripts can parse it. */
export async function runTenants(config: Config, args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'create') {
    throw new Error('usage: callgate tenants create --name <name>');
  }
  const { values } = parseArgs({ args: rest, options: { name: { type: 'string' } }, strict: true });
  const name = values.name?.trim();
  if (!name) {
    throw new Error('--name is required');
  }
  const { db } = await openStore(config);
  try {
    const now = new Date().toISOString();
    const tenantId = newTenantId();
    const key = issueKey(tenantId, null, now);
    await db.transaction(async (tx) => {
      await insertTenant(tx, { id: tenantId, name, createdAt: now });
      await insertApiKey(tx, key.record);
    });
    process.stdout.write(`${JSON.stringify({ tenantId, apiKey: { id: key.id, key: key.key } })}\n`);
  } finally {
    await db.close();
  }
}
