// `callgate webhooks list|get|create|update|delete|rotate-secret|logs|replay` (tenant key or number key).
import {
  CallgateError,
  type CreateWebhookInput,
  type UpdateWebhookInput,
  type Webhook,
  type WebhookLogEntry,
} from '../../packages/sdk/src/index.ts';
import { formatRecord, formatTable, shortTime } from './output.ts';
import {
  type Env,
  HelpRequested,
  limitFlag,
  list,
  optionsOf,
  parseRemote,
  REMOTE_USAGE,
  required,
  subcommand,
  UsageError,
  wantsHelp,
} from './remote.ts';
import { checkEventNames, EVENT_NAMES } from './vocabulary.ts';

export const WEBHOOKS_USAGE = `usage: callgate webhooks <command> [options]   (tenant key or number key)
  webhooks list
  webhooks get <webhookId>
  webhooks create <endpointUrl> [--events call.ended,call.missed|*] [--name <name>] [--number <numberId>]
                  (a tenant key must name --number; the answer holds the signing secret, shown once;
                  without --events it subscribes to every event, *, where the API's default is none)
  webhooks update <webhookId> [--endpoint <url>] [--events <list>] [--name <name>] [--active true|false]
  webhooks delete <webhookId>
  webhooks rotate-secret <webhookId>
  webhooks logs <webhookId> [--limit 1..50] [--event call.ended] [--body]
                  each attempt with its result, the next retry time of a delivery still retrying, and the
                  receiver's response (first line in the table, whole with --body or --json)
  webhooks replay <webhookId> <eventId>
Events: ${EVENT_NAMES.join(', ')}, or * for all
${REMOTE_USAGE}`;

export const WEBHOOKS_COMMANDS = [
  'list',
  'get',
  'create',
  'update',
  'delete',
  'rotate-secret',
  'logs',
  'replay',
] as const;

export const WEBHOOKS_OPTIONS = {
  endpoint: { type: 'string' },
  events: { type: 'string' },
  name: { type: 'string' },
  number: { type: 'string' },
  active: { type: 'string' },
  limit: { type: 'string' },
  event: { type: 'string' },
  body: { type: 'boolean' },
} as const;

/** The options each command takes, beyond the connection's. */
const WEBHOOKS_FLAGS: Record<(typeof WEBHOOKS_COMMANDS)[number], readonly (keyof typeof WEBHOOKS_OPTIONS)[]> = {
  list: [],
  get: [],
  create: ['endpoint', 'events', 'name', 'number'],
  update: ['endpoint', 'events', 'name', 'active'],
  delete: [],
  'rotate-secret': [],
  logs: ['limit', 'event', 'body'],
  replay: [],
};

// The API's field names as the CLI's flags, for errors about what the user typed.
const FLAG_OF_FIELD: Record<string, string> = {
  url: '<endpointUrl> (or --endpoint)',
  events: '--events',
  name: '--name',
  whatsappNumberId: '--number',
  active: '--active',
};

function flagOf(path: string): string {
  const field = path.split('/').find(Boolean) ?? '';
  return FLAG_OF_FIELD[field] ?? path;
}

/** A refused create/update, told in the CLI's words (flags), not the API's (body fields). */
function inFlags(error: unknown): unknown {
  if (!(error instanceof CallgateError)) {
    return error;
  }
  if (error.code === 'NUMBER_REQUIRED') {
    return new UsageError('a tenant key must name the number: --number <numberId> (callgate numbers list)');
  }
  const details = error.details as { field?: string; reason?: string; issues?: { path: string; message: string }[] };
  if (error.code === 'VALIDATION_ERROR' && (details?.issues || details?.field)) {
    const problems = details.issues
      ? details.issues.map((i) => `${flagOf(i.path)}: ${i.message}`)
      : [`${flagOf(details.field ?? '')}: ${details.reason ?? error.message}`];
    return new UsageError(`the server refused the webhook (request ${error.requestId}):\n  ${problems.join('\n  ')}`);
  }
  return error;
}

const firstLine = (text: string | null | undefined) => {
  if (!text) {
    return null;
  }
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 60 ? `${line.slice(0, 59)}…` : line;
};

const columns = [
  { header: 'ID', value: (w: Webhook) => w.id },
  { header: 'NUMBER', value: (w: Webhook) => w.whatsappNumberId },
  {
    header: 'ACTIVE',
    value: (w: Webhook) => (w.active ? 'yes' : `no${w.disabledReason ? ` (${w.disabledReason})` : ''}`),
  },
  { header: 'EVENTS', value: (w: Webhook) => w.events },
  { header: 'NAME', value: (w: Webhook) => w.name },
  { header: 'URL', value: (w: Webhook) => w.url },
];

const logColumns = [
  { header: 'TIME', value: (l: WebhookLogEntry) => shortTime(l.createdAt) },
  { header: 'EVENT', value: (l: WebhookLogEntry) => l.event },
  { header: 'EVENT ID', value: (l: WebhookLogEntry) => l.eventId },
  { header: 'ATTEMPT', value: (l: WebhookLogEntry) => l.attempt },
  { header: 'RESULT', value: (l: WebhookLogEntry) => l.status },
  { header: 'HTTP', value: (l: WebhookLogEntry) => l.statusCode },
  { header: 'MS', value: (l: WebhookLogEntry) => l.durationMs },
  { header: 'NEXT RETRY', value: (l: WebhookLogEntry) => shortTime(l.nextAttemptAt) },
  { header: 'ERROR', value: (l: WebhookLogEntry) => l.error },
  { header: 'RESPONSE', value: (l: WebhookLogEntry) => firstLine(l.response) },
];

function webhookRecord(w: Webhook & { secret?: string }): [string, unknown][] {
  return [
    ['id', w.id],
    ['number', w.whatsappNumberId],
    ['url', w.url],
    ['events', w.events],
    ['name', w.name],
    ['active', w.active],
    ['disabled reason', w.disabledReason],
    ['created', w.createdAt],
    ['updated', w.updatedAt],
    ...(w.secret ? ([['secret', `${w.secret}   (shown this once)`]] as [string, unknown][]) : []),
  ];
}

function logRecord(l: WebhookLogEntry): [string, unknown][] {
  return [
    ['time', l.createdAt],
    ['event', `${l.event} ${l.eventId}`],
    ['attempt', l.attempt],
    ['result', l.status],
    ['http status', l.statusCode],
    ['duration', `${l.durationMs} ms`],
    ['next retry', l.nextAttemptAt],
    ['error', l.error],
    ['response', l.response ? `\n${l.response}` : null],
  ];
}

function boolean(value: string | undefined): boolean | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (value === 'true' || value === 'false') {
    return value === 'true';
  }
  throw new UsageError('--active is true or false');
}

export async function runWebhooks(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(WEBHOOKS_USAGE);
  }
  const [first, ...rest] = args;
  const sub = subcommand(first, WEBHOOKS_COMMANDS, 'webhooks');
  const r = parseRemote(rest, env, optionsOf(WEBHOOKS_OPTIONS, WEBHOOKS_FLAGS[sub]));
  const v = r.values;
  const named = list(v.events);
  const events =
    named === undefined ? undefined : (checkEventNames(named, '--events', true) as CreateWebhookInput['events']);
  switch (sub) {
    case 'list': {
      const webhooks = await r.client().webhooks.list();
      return r.out.result(webhooks, () => formatTable(webhooks, columns));
    }
    case 'get': {
      const webhook = await r.client().webhooks.get(required(r.positionals, 0, '<webhookId>'));
      return r.out.result(webhook, () => formatRecord(webhookRecord(webhook)));
    }
    case 'create': {
      // --url is the server's address, so the endpoint is positional (or --endpoint).
      const url = r.positionals[0] ?? v.endpoint;
      if (!url) {
        throw new UsageError(
          'webhooks create needs the endpoint URL: callgate webhooks create https://example.com/hooks',
        );
      }
      const input: CreateWebhookInput = { url, events: events ?? ['*'] };
      if (v.name) {
        input.name = v.name;
      }
      if (v.number) {
        input.whatsappNumberId = v.number;
      }
      const created = await r
        .client()
        .webhooks.create(input)
        .catch((error: unknown) => {
          throw inFlags(error);
        });
      return r.out.result(created, () => formatRecord(webhookRecord(created)));
    }
    case 'update': {
      const id = required(r.positionals, 0, '<webhookId>');
      const input: UpdateWebhookInput = {};
      if (v.endpoint !== undefined) {
        input.url = v.endpoint;
      }
      if (v.name !== undefined) {
        input.name = v.name;
      }
      if (events !== undefined) {
        input.events = events;
      }
      const active = boolean(v.active);
      if (active !== undefined) {
        input.active = active;
      }
      if (Object.keys(input).length === 0) {
        throw new UsageError('webhooks update needs at least one of --endpoint, --events, --name, --active');
      }
      const updated = await r
        .client()
        .webhooks.update(id, input)
        .catch((error: unknown) => {
          throw inFlags(error);
        });
      return r.out.result(updated, () => formatRecord(webhookRecord(updated)));
    }
    case 'delete': {
      const id = required(r.positionals, 0, '<webhookId>');
      await r.client().webhooks.delete(id);
      return r.out.result({ id, deleted: true }, () => `Deleted ${id}\n`);
    }
    case 'rotate-secret': {
      const rotated = await r.client().webhooks.rotateSecret(required(r.positionals, 0, '<webhookId>'));
      return r.out.result(rotated, () =>
        formatRecord([
          ['id', rotated.id],
          ['secret', `${rotated.secret}   (shown this once)`],
          ['old secret signs until', rotated.previousSecretExpiresAt],
        ]),
      );
    }
    case 'logs': {
      const limit = limitFlag(v.limit, 50);
      const logs = await r.client().webhooks.logs(required(r.positionals, 0, '<webhookId>'), {
        ...(limit !== undefined ? { limit } : {}),
        ...(v.event ? { event: checkEventNames([v.event], '--event', false)[0] } : {}),
      });
      return r.out.result({ logs }, () =>
        v.body
          ? logs.map((l) => `${formatRecord(logRecord(l))}`).join('\n') || '(none)\n'
          : formatTable(logs, logColumns),
      );
    }
    case 'replay': {
      const result = await r
        .client()
        .webhooks.replay(required(r.positionals, 0, '<webhookId>'), required(r.positionals, 1, '<eventId>'));
      return r.out.result(result, () => `Queued ${result.event} ${result.eventId} for ${result.webhookId} again\n`);
    }
  }
}
