// `callgate numbers list|get|create|delete` (tenant key).
import type { CreateNumberInput, WhatsAppNumber } from '../../packages/sdk/src/index.ts';
import { formatRecord, formatTable, shortTime } from './output.ts';
import { type Env, parseRemote, REMOTE_USAGE, required, UsageError } from './remote.ts';

export const NUMBERS_USAGE = `usage: callgate numbers <list|get|create|delete> [options]   (tenant key)
  numbers list
  numbers get <numberId>
  numbers create --name <name> --phone <+E164> --provider META --phone-number-id <id> [--waba-id <id>]
                 --access-token <token> --app-secret <secret> --verify-token <token>
  numbers create --name <name> --phone <+E164> --provider EVO_GO --base-url <url> --instance-id <id>
                 [--instance-name <name>] --instance-token <token> [--public-ws-base-url <wss://...>]
  numbers create --name <name> --provider SANDBOX [--phone <+E164>]   simulated WhatsApp users (a +99… number)
  numbers delete <numberId>
${REMOTE_USAGE}`;

const OPTIONS = {
  name: { type: 'string' },
  phone: { type: 'string' },
  provider: { type: 'string' },
  'phone-number-id': { type: 'string' },
  'waba-id': { type: 'string' },
  'access-token': { type: 'string' },
  'app-secret': { type: 'string' },
  'verify-token': { type: 'string' },
  'base-url': { type: 'string' },
  'instance-id': { type: 'string' },
  'instance-name': { type: 'string' },
  'instance-token': { type: 'string' },
  'public-ws-base-url': { type: 'string' },
} as const;

const columns = [
  { header: 'ID', value: (n: WhatsAppNumber) => n.id },
  { header: 'NAME', value: (n: WhatsAppNumber) => n.name },
  { header: 'PHONE', value: (n: WhatsAppNumber) => n.phoneNumber },
  { header: 'PROVIDER', value: (n: WhatsAppNumber) => n.provider },
  { header: 'CREATED', value: (n: WhatsAppNumber) => shortTime(n.createdAt) },
];

function numberRecord(n: WhatsAppNumber): [string, unknown][] {
  return [
    ['id', n.id],
    ['name', n.name],
    ['phone', n.phoneNumber],
    ['provider', n.provider],
    ...(n.sandbox ? ([['sandbox', 'yes: its WhatsApp users are simulated by callgate']] as [string, unknown][]) : []),
    ...(n.meta
      ? ([
          ['meta phone_number_id', n.meta.phoneNumberId],
          ['meta waba_id', n.meta.wabaId],
        ] as [string, unknown][])
      : []),
    ...(n.evolution
      ? ([
          ['evolution base url', n.evolution.baseUrl],
          ['evolution instance', n.evolution.instanceId],
        ] as [string, unknown][])
      : []),
    ['created', n.createdAt],
    ['updated', n.updatedAt],
  ];
}

export async function runNumbers(args: string[], env: Env): Promise<void> {
  const [sub, ...rest] = args;
  const r = parseRemote(rest, env, OPTIONS);
  if (r.help || sub === undefined || sub === '--help' || sub === '-h') {
    throw new UsageError(NUMBERS_USAGE);
  }
  const v = r.values;
  switch (sub) {
    case 'list': {
      const numbers = await r.client().numbers.list();
      return r.out.result({ numbers }, () => formatTable(numbers, columns));
    }
    case 'get': {
      const number = await r.client().numbers.get(required(r.positionals, 0, '<numberId>'));
      return r.out.result(number, () => formatRecord(numberRecord(number)));
    }
    case 'create': {
      const need = (name: keyof typeof OPTIONS): string => {
        const value = v[name];
        if (!value) {
          throw new UsageError(`numbers create needs --${name}`);
        }
        return value;
      };
      const provider = need('provider').toUpperCase();
      const input: CreateNumberInput = {
        name: need('name'),
        ...(provider === 'SANDBOX' && !v.phone ? {} : { phoneNumber: need('phone') }),
        provider: provider as CreateNumberInput['provider'],
      };
      if (provider === 'SANDBOX') {
        // Nothing else to give: its WhatsApp side lives inside callgate.
      } else if (provider === 'META') {
        input.meta = {
          phoneNumberId: need('phone-number-id'),
          accessToken: need('access-token'),
          appSecret: need('app-secret'),
          verifyToken: need('verify-token'),
          ...(v['waba-id'] ? { wabaId: v['waba-id'] } : {}),
        };
      } else if (provider === 'EVO_GO') {
        input.evolution = {
          baseUrl: need('base-url'),
          instanceId: need('instance-id'),
          instanceToken: need('instance-token'),
          ...(v['instance-name'] ? { instanceName: v['instance-name'] } : {}),
          ...(v['public-ws-base-url'] ? { publicWsBaseUrl: v['public-ws-base-url'] } : {}),
        };
      } else {
        throw new UsageError('--provider is META, EVO_GO or SANDBOX');
      }
      const created = await r.client().numbers.create(input);
      return r.out.result(
        created,
        () =>
          formatRecord(numberRecord(created.number)) +
          `\nThe number's key, shown this once (use it for /v1/calls):\n  key:    ${created.apiKey.key}\n  key id: ${created.apiKey.id}\n`,
      );
    }
    case 'delete': {
      const id = required(r.positionals, 0, '<numberId>');
      await r.client().numbers.delete(id);
      return r.out.result({ id, deleted: true }, () => `Deleted ${id} (its calls and key too)\n`);
    }
    default:
      throw new UsageError(`unknown numbers command "${sub}"\n${NUMBERS_USAGE}`);
  }
}
