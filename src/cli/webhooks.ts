// `callgate webhooks list|get|create|update|delete|rotate-secret|logs|replay` (tenant key or number key).
import type {
  CreateWebhookInput,
  UpdateWebhookInput,
  Webhook,
  WebhookEventName,
  WebhookLogEntry,
} from '../../packages/sdk/src/index.ts';
import { formatRecord, formatTable, shortTime } from './output.ts';
import { type Env, list, parseRemote, REMOTE_USAGE, required, UsageError } from './remote.ts';

export const WEBHOOKS_USAGE = `usage: callgate webhooks <command> [options]   (tenant key or number key)
  webhooks list
  webhooks get <webhookId>
  webhooks create <endpointUrl> [--events call.ended,call.missed|*] [--name <name>] [--number <numberId>]
                  (a tenant key must name --number; the answer holds the signing secret, shown once)
  webhooks update <webhookId> [--endpoint <url>] [--events <list>] [--name <name>] [--active true|false]
  webhooks delete <webhookId>
  webhooks rotate-secret <webhookId>
  webhooks logs <webhookId> [--limit 1..50] [--event call.ended]
  webhooks replay <webhookId> <eventId>
${REMOTE_USAGE}`;

const OPTIONS = {
  endpoint: { type: 'string' },
  events: { type: 'string' },
  name: { type: 'string' },
  number: { type: 'string' },
  active: { type: 'string' },
  limit: { type: 'string' },
  event: { type: 'string' },
} as const;

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
  { header: 'ERROR', value: (l: WebhookLogEntry) => l.error },
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
  const [sub, ...rest] = args;
  const r = parseRemote(rest, env, OPTIONS);
  if (r.help || sub === undefined || sub === '--help' || sub === '-h') {
    throw new UsageError(WEBHOOKS_USAGE);
  }
  const v = r.values;
  const events = list(v.events) as CreateWebhookInput['events'] | undefined;
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
      const created = await r.client().webhooks.create(input);
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
      const updated = await r.client().webhooks.update(id, input);
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
      const limit = v.limit === undefined ? undefined : Number(v.limit);
      if (limit !== undefined && !Number.isInteger(limit)) {
        throw new UsageError('--limit is a whole number');
      }
      const logs = await r.client().webhooks.logs(required(r.positionals, 0, '<webhookId>'), {
        ...(limit !== undefined ? { limit } : {}),
        ...(v.event ? { event: v.event as WebhookEventName } : {}),
      });
      return r.out.result({ logs }, () => formatTable(logs, logColumns));
    }
    case 'replay': {
      const result = await r
        .client()
        .webhooks.replay(required(r.positionals, 0, '<webhookId>'), required(r.positionals, 1, '<eventId>'));
      return r.out.result(result, () => `Queued ${result.event} ${result.eventId} for ${result.webhookId} again\n`);
    }
    default:
      throw new UsageError(`unknown webhooks command "${sub}"\n${WEBHOOKS_USAGE}`);
  }
}
