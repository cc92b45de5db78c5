// `callgate keys list|create|regenerate` (tenant key).
import type { MaskedApiKey } from '../../packages/sdk/src/index.ts';
import { formatRecord, formatTable, shortTime } from './output.ts';
import { type Env, HelpRequested, parseRemote, REMOTE_USAGE, required, subcommand, wantsHelp } from './remote.ts';

export const KEYS_USAGE = `usage: callgate keys <list|create|regenerate> [options]   (tenant key)
  keys list                       one key per number, masked
  keys create <numberId>          the key of a number that has none, shown once
  keys regenerate <numberId>      a new key for the number, shown once; the old one stops working at once
${REMOTE_USAGE}`;

const columns = [
  { header: 'NUMBER', value: (k: MaskedApiKey) => k.numberId },
  // The API gives the digits only (Pilot's shape); shown with its + as `numbers list` shows it.
  { header: 'PHONE', value: (k: MaskedApiKey) => (k.number ? `+${k.number}` : '-') },
  { header: 'KEY ID', value: (k: MaskedApiKey) => k.keyId ?? '(none)' },
  { header: 'KEY', value: (k: MaskedApiKey) => (k.keyLast4 ? `ps_…${k.keyLast4}` : '') },
  { header: 'CREATED', value: (k: MaskedApiKey) => shortTime(k.createdAt) },
  { header: 'LAST USED', value: (k: MaskedApiKey) => shortTime(k.lastUsedAt) },
];

export const KEYS_COMMANDS = ['list', 'create', 'regenerate'] as const;

export async function runKeys(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(KEYS_USAGE);
  }
  const [first, ...rest] = args;
  const sub = subcommand(first, KEYS_COMMANDS, 'keys');
  const r = parseRemote(rest, env, {});
  switch (sub) {
    case 'list': {
      const apiKeys = await r.client().apiKeys.list();
      return r.out.result(apiKeys, () => formatTable(apiKeys, columns));
    }
    case 'create': {
      const created = await r.client().apiKeys.create(required(r.positionals, 0, '<numberId>'));
      return r.out.result(
        created,
        () =>
          `${formatRecord([
            ['number', created.numberId],
            ['key', created.key],
            ['key id', created.keyId],
          ])}Shown this once.\n`,
      );
    }
    case 'regenerate': {
      const result = await r.client().apiKeys.regenerate(required(r.positionals, 0, '<numberId>'));
      return r.out.result(
        result,
        () =>
          `${formatRecord([
            ['number', result.numberId],
            ['key', result.apiKey.key],
            ['key id', result.apiKey.id],
          ])}Shown this once; the previous key no longer works.\n`,
      );
    }
  }
}
