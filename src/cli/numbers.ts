// `callgate numbers list|get|create|delete|status|connect` (tenant key).
import type { CreateNumberInput, WhatsAppNumber } from '../../packages/sdk/src/index.ts';
import { formatRecord, formatTable, shortTime } from './output.ts';
import {
  type Env,
  HelpRequested,
  onOffFlag,
  parseRemote,
  REMOTE_USAGE,
  required,
  requireFlags,
  subcommand,
  UsageError,
  wantsHelp,
} from './remote.ts';
import { unknownChoice } from './suggest.ts';

export const NUMBERS_USAGE = `usage: callgate numbers <list|get|create|update|delete|status|connect> [options]   (tenant key)
  numbers list
  numbers get <numberId>
  numbers create --name <name> --phone <+E164> --provider META --phone-number-id <id> [--waba-id <id>]
                 --access-token <token> --app-secret <secret> --verify-token <token>
  numbers create --name <name> --phone <+E164> --provider EVO_GO --base-url <url> --instance-id <id>
                 [--instance-name <name>] --instance-token <token> [--public-ws-base-url <wss://...>]
  numbers create --name <name> --phone <+E164> --qr
                 a web number by QR on the server's own Evolution Go (EVOLUTION_BASE_URL); prints the QR string
  numbers create --name <name> --provider SANDBOX [--phone <+E164>]   simulated WhatsApp users (a +99… number)
  numbers update <numberId> --record-calls on|off
                 record every server-media call of the number (a call's own "record" still wins)
  numbers delete <numberId> [--force]
                 refused while the number has calls ringing, connected or being placed; --force deletes it anyway
                 (for calls the provider can no longer end: they are not ended there, no call.ended is sent)
  numbers status <numberId>       state as the provider sees it (web numbers: asked now)
  numbers connect <numberId> [--phone <+E164>]   a new QR, or a pairing code for that phone
${REMOTE_USAGE}`;

export const NUMBERS_COMMANDS = ['list', 'get', 'create', 'update', 'delete', 'status', 'connect'] as const;

export const NUMBERS_OPTIONS = {
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
  qr: { type: 'boolean' },
  force: { type: 'boolean' },
  'record-calls': { type: 'string' },
} as const;

const columns = [
  { header: 'ID', value: (n: WhatsAppNumber) => n.id },
  { header: 'NAME', value: (n: WhatsAppNumber) => n.name },
  { header: 'PHONE', value: (n: WhatsAppNumber) => n.phoneNumber },
  { header: 'PROVIDER', value: (n: WhatsAppNumber) => n.provider },
  { header: 'STATE', value: (n: WhatsAppNumber) => n.state },
  { header: 'CREATED', value: (n: WhatsAppNumber) => shortTime(n.createdAt) },
];

/** How the simulated users behave (the number's `sandbox` settings at creation), in one line. */
function sandboxUsers(s: NonNullable<WhatsAppNumber['sandboxSettings']>): string {
  const hangup = s.hangupAfterSeconds === null ? 'never hang up' : `hang up after ${s.hangupAfterSeconds} s`;
  return `answer ${s.answer} after ${s.answerAfterSeconds} s, say ${s.audio}, ${hangup}; permission requests: ${s.permissionReply}`;
}

function numberRecord(n: WhatsAppNumber): [string, unknown][] {
  return [
    ['id', n.id],
    ['name', n.name],
    ['phone', n.phoneNumber],
    ['provider', n.provider],
    ['state', n.state],
    ...(n.sandbox ? ([['sandbox', 'yes: its WhatsApp users are simulated by callgate']] as [string, unknown][]) : []),
    ...(n.sandboxSettings ? ([['sandbox users', sandboxUsers(n.sandboxSettings)]] as [string, unknown][]) : []),
    ['record calls', n.recordCalls ? 'yes (server-media calls, unless a call says record: false)' : 'no'],
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

const PROVIDER_FLAGS = {
  META: ['phone-number-id', 'access-token', 'app-secret', 'verify-token'],
  EVO_GO: ['base-url', 'instance-id', 'instance-token'],
  SANDBOX: [],
} as const;

export async function runNumbers(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(NUMBERS_USAGE);
  }
  const [first, ...rest] = args;
  const sub = subcommand(first, NUMBERS_COMMANDS, 'numbers');
  const r = parseRemote(rest, env, NUMBERS_OPTIONS);
  const v = r.values;
  switch (sub) {
    case 'list': {
      const numbers = await r.client().numbers.list();
      return r.out.result(numbers, () => formatTable(numbers, columns));
    }
    case 'get': {
      const number = await r.client().numbers.get(required(r.positionals, 0, '<numberId>'));
      return r.out.result(number, () => formatRecord(numberRecord(number)));
    }
    case 'create': {
      const need = (name: keyof typeof NUMBERS_OPTIONS): string => {
        const value = v[name];
        return typeof value === 'string' ? value : '';
      };
      if (v.qr) {
        requireFlags(v, ['name', 'phone'], 'numbers create --qr');
        const web = await r.client().numbers.createWeb({ name: need('name'), number: need('phone') });
        return r.out.result(
          web,
          () =>
            formatRecord(numberRecord(web.number)) +
            `\nScan this QR with WhatsApp (or run numbers connect ${web.number.id} --phone <+E164> for a pairing code):\n  ${web.code ?? '(none)'}\n` +
            (web.apiKey
              ? `The number's key, shown this once:\n  key:    ${web.apiKey.key}\n  key id: ${web.apiKey.id}\n`
              : ''),
        );
      }
      const provider = v.provider?.toUpperCase();
      if (provider !== undefined && provider !== 'META' && provider !== 'EVO_GO' && provider !== 'SANDBOX') {
        throw new UsageError(
          `--provider: ${unknownChoice('provider', v.provider ?? '', ['META', 'EVO_GO', 'SANDBOX'])}`,
        );
      }
      // Every missing flag at once, the provider's own ones included when the provider is known; a sandbox number
      // gets a +99… number when --phone is left out.
      const phone = provider === 'SANDBOX' ? [] : ['phone'];
      requireFlags(v, ['name', ...phone, 'provider', ...(provider ? PROVIDER_FLAGS[provider] : [])], 'numbers create');
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
    case 'status': {
      const status = await r.client().numbers.status(required(r.positionals, 0, '<numberId>'));
      return r.out.result(status, () =>
        formatRecord([
          ['id', status.id],
          ['state', status.state],
          ['fully connected', status.isFullyConnected],
          ...(status.health ? ([['health', JSON.stringify(status.health)]] as [string, unknown][]) : []),
        ]),
      );
    }
    case 'connect': {
      const phone = typeof v.phone === 'string' ? v.phone : undefined;
      const answer = await r.client().numbers.connect(required(r.positionals, 0, '<numberId>'), phone ? { phone } : {});
      return r.out.result(answer, () =>
        formatRecord([
          ['id', answer.id],
          ['state', answer.state],
          ...(answer.pairingCode ? ([['pairing code', answer.pairingCode]] as [string, unknown][]) : []),
          ...(answer.code ? ([['qr', answer.code]] as [string, unknown][]) : []),
        ]),
      );
    }
    case 'update': {
      const id = required(r.positionals, 0, '<numberId>');
      const recordCalls = onOffFlag(v['record-calls'], '--record-calls');
      if (recordCalls === undefined) {
        throw new UsageError('numbers update needs what to change: --record-calls on|off');
      }
      const number = await r.client().numbers.update(id, { recordCalls });
      return r.out.result(number, () => formatRecord(numberRecord(number)));
    }
    case 'delete': {
      const id = required(r.positionals, 0, '<numberId>');
      await r.client().numbers.delete(id, { force: v.force === true });
      return r.out.result({ id, deleted: true }, () => `Deleted ${id} (its calls and key too)\n`);
    }
  }
}
