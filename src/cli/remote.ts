// Shared by the commands that talk to a running server through the SDK: --url, --key (or --key-id), --json.
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { Callgate } from '../../packages/sdk/src/index.ts';
import { output } from './output.ts';

export type Env = Record<string, string | undefined>;

export const DEFAULT_URL = 'http://localhost:8080';

const COMMON = {
  url: { type: 'string' },
  key: { type: 'string' },
  'key-id': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

export const REMOTE_USAGE = `Connection (every remote command):
  --url <url>      server address (default $CALLGATE_URL or ${DEFAULT_URL})
  --key <ps_...>   API key (default $CALLGATE_API_KEY); --key-id <key_...> uses x-api-key-id instead
  --json           print JSON only on stdout (one document, or one line per event)`;

/** A mistake in how the command was called: main prints the usage and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses the command's own options plus the connection options. */
export function parseRemote<O extends ParseArgsOptionsConfig>(args: string[], env: Env, options: O) {
  const parsed = (() => {
    try {
      return parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  })();
  const values = parsed.values as Record<string, unknown>;
  const url = (values.url as string | undefined) ?? env.CALLGATE_URL ?? DEFAULT_URL;
  const key = (values.key as string | undefined) ?? (values['key-id'] ? undefined : env.CALLGATE_API_KEY);
  const keyId = (values['key-id'] as string | undefined) ?? (key ? undefined : env.CALLGATE_API_KEY_ID);
  let client: Callgate | undefined;
  return {
    values: parsed.values,
    positionals: parsed.positionals,
    help: values.help === true,
    out: output(values.json === true),
    client(): Callgate {
      if (!key && !keyId) {
        throw new UsageError('an API key is needed: --key ps_... or CALLGATE_API_KEY');
      }
      client ??= new Callgate({ baseUrl: url, ...(key ? { apiKey: key } : { apiKeyId: keyId as string }) });
      return client;
    },
  };
}

/** The one positional argument a subcommand needs (`calls get <id>`). */
export function required(positionals: string[], index: number, what: string): string {
  const value = positionals[index];
  if (value === undefined || value === '') {
    throw new UsageError(`missing ${what}`);
  }
  return value;
}

/** Comma-separated list option (`--events call.ended,call.missed`). */
export function list(value: string | undefined): string[] | undefined {
  return value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}

/** Resolves when SIGINT or SIGTERM arrives (long-running commands stop cleanly). */
export function untilSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}
