import { issueKey } from '../auth/keys.ts';
import { newTenantId, type TenantId } from '../ids.ts';
import { insertApiKey, replaceTenantKey } from '../store/api-keys.ts';
import { insertTenant } from '../store/tenants.ts';
import { type Env, HelpRequested, parseFlags, requireFlags, subcommand, wantsHelp } from './remote.ts';
import { openCommandStore, STORE_OPTIONS, STORE_USAGE, stderrLine, storeConfig } from './store.ts';

export const TENANTS_USAGE = `usage: callgate tenants create|rotate-key ... [--data-dir <dir>]   (on the store)
  tenants create --name <name>        create a tenant; prints {"tenantId","apiKey":{"id","key"}} as JSON on stdout
  tenants rotate-key --tenant <id>    replace the tenant's key (a leaked one stops working at once); prints the
                                      new one as create does
${STORE_USAGE}`;

export const TENANTS_COMMANDS = ['create', 'rotate-key'] as const;
export const TENANTS_OPTIONS = { ...STORE_OPTIONS, name: { type: 'string' }, tenant: { type: 'string' } } as const;

/** `tenants create --name X`: stdout carries the JSON and nothing else, so scripts can parse it. */
export async function runTenants(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(TENANTS_USAGE);
  }
  const [sub, ...rest] = args;
  subcommand(sub, TENANTS_COMMANDS, 'tenants');
  const { values } = parseFlags(rest, TENANTS_OPTIONS);
  if (sub === 'rotate-key') {
    requireFlags({ tenant: values.tenant?.trim() }, ['tenant'], 'tenants rotate-key');
    return rotateKey((values.tenant ?? '').trim() as TenantId, values['data-dir'], env);
  }
  requireFlags({ name: values.name?.trim() }, ['name'], 'tenants create');
  const name = (values.name ?? '').trim();
  const config = storeConfig(env, values['data-dir'], stderrLine);
  const { db } = await openCommandStore(config, stderrLine);
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

/** `tenants rotate-key --tenant <id>`: the only way to revoke a tenant key, so it is on the store like create. */
async function rotateKey(tenantId: TenantId, dataDir: string | undefined, env: Env): Promise<void> {
  const config = storeConfig(env, dataDir, stderrLine);
  const { db } = await openCommandStore(config, stderrLine);
  try {
    const key = issueKey(tenantId, null, new Date().toISOString());
    if (!(await replaceTenantKey(db, tenantId, key.record))) {
      throw new Error(`no tenant ${tenantId} in this store`);
    }
    process.stdout.write(`${JSON.stringify({ tenantId, apiKey: { id: key.id, key: key.key } })}\n`);
  } finally {
    await db.close();
  }
}
