// Shared by the commands that talk to a running server through the SDK: --url, --key (or --key-id), --json.
import { dirname, resolve } from 'node:path';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { Callgate } from '../../packages/sdk/src/index.ts';
import { NUMBER_KEY_HOW, output, TENANT_KEY_HOW } from './output.ts';
import { unknownChoice } from './suggest.ts';

export type Env = Record<string, string | undefined>;

export const DEFAULT_URL = 'http://localhost:8080';

/**
 * A file the user named, as their shell meant it: `npm run callgate` runs in the package's folder, and npm keeps the
 * folder it was typed in as INIT_CWD. Only then: every process under an npm script inherits INIT_CWD, and one that
 * runs elsewhere (a script's `cd out && callgate …`, a test's child in its own folder) names files from where it is.
 */
export function fromShell(path: string, env: Env): string {
  const npmPackage = env.npm_package_json;
  const movedByNpm = env.INIT_CWD !== undefined && (!npmPackage || dirname(npmPackage) === process.cwd());
  return resolve(movedByNpm ? (env.INIT_CWD as string) : process.cwd(), path);
}

const COMMON = {
  url: { type: 'string' },
  key: { type: 'string' },
  'key-id': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

export const REMOTE_USAGE = `Connection (every remote command):
  --url <url>      server address (default $CALLGATE_URL or ${DEFAULT_URL})
  --key <ps_...>   API key (default $CALLGATE_API_KEY)
  --key-id <key_>  the key's id instead, sent as x-api-key-id (default $CALLGATE_API_KEY_ID)
  --json           print JSON only on stdout (one document, or one line per event)`;

/** A mistake in how the command was called: main prints it on stderr and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A positional argument left out: main shows the subcommand's own usage line with it. */
export class MissingArgument extends UsageError {}

/** The usage line of `command sub` in a command's usage text (its synopsis, without the description), or null. */
export function synopsisOf(usage: string, command: string, sub: string): string | null {
  const line = usage.split('\n').find((l) => l.trimStart().startsWith(`${command} ${sub} `));
  return line ? (line.trim().split(/\s{2,}/)[0] ?? null) : null;
}

/** --help/-h was asked for: main prints the text on stdout and exits 0, having done nothing else. */
export class HelpRequested extends Error {
  override name = 'HelpRequested';
}

/** Whether the arguments ask for help; checked before anything is parsed, opened or sent. */
export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/** An on|off flag's value as a boolean; undefined when the flag was not given; anything else a usage mistake. */
export function onOffFlag(value: string | undefined, flag: string): boolean | undefined {
  if (value === undefined || value === 'on' || value === 'off') {
    return value === undefined ? undefined : value === 'on';
  }
  throw new UsageError(`${flag}: ${unknownChoice('value', value, ['on', 'off'])}`);
}

/** parseArgs, with an unknown flag answered by "did you mean" and the command's flags. */
export function parseFlags<O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const flag = /'(-{1,2}[^'\s]+)'/.exec(e.message)?.[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) {
      throw new UsageError(unknownChoice('option', flag, flagNames(options)));
    }
    throw new UsageError(e.message);
  }
}

/**
 * One command's share of its group's options table: a flag of another command is then refused with this command's
 * own list, instead of being taken and ignored (`calls get <id> --limit 5`). Typed as the whole table, whose values
 * are optional anyway.
 */
export function optionsOf<O extends ParseArgsOptionsConfig>(options: O, names: readonly (keyof O & string)[]): O {
  return Object.fromEntries(names.map((name) => [name, options[name]])) as unknown as O;
}

/** The flags of an options table, as typed on the command line (completion and suggestions). */
export function flagNames(options: ParseArgsOptionsConfig): string[] {
  return Object.keys(options).map((name) => `--${name}`);
}

/** The subcommand, or a usage mistake naming the closest one. */
export function subcommand<S extends string>(sub: string | undefined, valid: readonly S[], group: string): S {
  if (sub === undefined || sub.startsWith('-')) {
    throw new UsageError(`${group} needs a command: ${valid.join(', ')}   (callgate ${group} --help)`);
  }
  if (!(valid as readonly string[]).includes(sub)) {
    throw new UsageError(`${unknownChoice(`${group} command`, sub, valid)}\n  (callgate ${group} --help)`);
  }
  return sub as S;
}

/** Throws one usage error naming every required flag that is missing, not the first. */
export function requireFlags(values: Record<string, unknown>, names: readonly string[], command: string): void {
  const missing = names.filter((name) => values[name] === undefined || values[name] === '');
  if (missing.length > 0) {
    throw new UsageError(`${command} needs ${missing.map((m) => `--${m}`).join(', ')}`);
  }
}

function connection(values: Record<string, unknown>, env: Env) {
  const url = (values.url as string | undefined) ?? (env.CALLGATE_URL || DEFAULT_URL);
  const key = (values.key as string | undefined) ?? (values['key-id'] ? undefined : env.CALLGATE_API_KEY);
  const keyId = (values['key-id'] as string | undefined) ?? (key ? undefined : env.CALLGATE_API_KEY_ID);
  return { url, key, keyId };
}

/** The credential a remote command sent (for the messages of a 401 or 403), read as parseRemote reads it. */
export function sentCredential(args: string[], env: Env): SentCredential | null {
  const { values } = parseArgs({ args, options: COMMON, allowPositionals: true, strict: false });
  const { url, key, keyId } = connection(values, env);
  return key ? { header: 'x-api-key', value: key, url } : keyId ? { header: 'x-api-key-id', value: keyId, url } : null;
}

export interface SentCredential {
  header: 'x-api-key' | 'x-api-key-id';
  value: string;
  url: string;
}

/** The command's own options plus the connection options. */
export function remoteOptions<O extends ParseArgsOptionsConfig>(options: O): O & typeof COMMON {
  return { ...COMMON, ...options };
}

/** Parses the command's own options plus the connection options. */
export function parseRemote<O extends ParseArgsOptionsConfig>(args: string[], env: Env, options: O) {
  const parsed = parseFlags(args, remoteOptions(options));
  const values = parsed.values as Record<string, unknown>;
  const { url, key, keyId } = connection(values, env);
  let client: Callgate | undefined;
  return {
    values: parsed.values,
    positionals: parsed.positionals,
    /** The server address the command talks to (--url, $CALLGATE_URL or the default). */
    url,
    help: values.help === true,
    out: output(values.json === true),
    client(): Callgate {
      if (!key && !keyId) {
        // Where keys come from too, as a 401 says: a newcomer with no key yet learnt only how to pass one.
        throw new UsageError(
          'an API key is needed: --key ps_... or CALLGATE_API_KEY (or its id: --key-id key_... or CALLGATE_API_KEY_ID); ' +
            `${TENANT_KEY_HOW}; ${NUMBER_KEY_HOW}`,
        );
      }
      // `localhost:8080` reads as a URL of scheme "localhost:": the request failed as a network error, exit 1.
      if (!/^https?:\/\/[^/]/i.test(url) || !URL.canParse(url)) {
        const from = values.url !== undefined ? '--url' : 'CALLGATE_URL';
        const shown = url.replace(/\/\/[^/@]*@/, '//***@'); // a password in it stays out of the terminal's scrollback
        throw new UsageError(`${from} must be an http(s) URL such as ${DEFAULT_URL}, got "${shown}"`);
      }
      client ??= new Callgate({ baseUrl: url, ...(key ? { apiKey: key } : { apiKeyId: keyId ?? '' }) });
      return client;
    },
  };
}

/** The one positional argument a subcommand needs (`calls get <id>`). */
export function required(positionals: string[], index: number, what: string): string {
  const value = positionals[index];
  if (value === undefined || value === '') {
    throw new MissingArgument(`missing ${what}`);
  }
  return value;
}

/** --limit, checked here: a filtered `calls list` pages on the client, so the server never sees it. */
export function limitFlag(value: string | undefined, max: number): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new UsageError(`--limit is a whole number from 1 to ${max}`);
  }
  return limit;
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

type SignalTarget = Pick<NodeJS.Process, 'on' | 'off'>;

/**
 * Aborts `signal` when SIGINT or SIGTERM arrives (long-running commands stop cleanly). The handlers stay until
 * `dispose`: under `npm run`, one Ctrl-C reaches the command twice (the terminal's, then npm's forwarded copy),
 * and a second signal with no handler left would kill it mid-stop (`calls listen` lost its WAV).
 */
export function untilSignal(target: SignalTarget = process): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  target.on('SIGINT', stop);
  target.on('SIGTERM', stop);
  return {
    signal: controller.signal,
    dispose() {
      target.off('SIGINT', stop);
      target.off('SIGTERM', stop);
    },
  };
}
