// What the remote commands print: JSON only (one document, or one line per event) with --json, otherwise a
// readable table or record. Everything for humans that is not the answer goes to stderr.
import { CallgateError } from '../../packages/sdk/src/index.ts';

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') {
    return '-';
  }
  if (Array.isArray(value)) {
    return value.length ? value.join(',') : '-';
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

/** ISO timestamps without milliseconds and zone, for tables (UTC). */
export function shortTime(iso: unknown): string | null {
  return typeof iso === 'string' ? iso.replace('T', ' ').replace(/\.\d{3}Z$|Z$/, '') : null;
}

/** A plain aligned table; "(none)" when there are no rows. */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  if (rows.length === 0) {
    return '(none)\n';
  }
  const cells = rows.map((row) => columns.map((c) => cell(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(columns.map((c) => c.header)), ...cells.map(line)].join('\n')}\n`;
}

/** `field: value` lines for one object. */
export function formatRecord(entries: readonly [string, unknown][]): string {
  const width = Math.max(...entries.map(([k]) => k.length));
  return `${entries.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${cell(v)}`).join('\n')}\n`;
}

export interface Output {
  json: boolean;
  /** The answer: `data` as one JSON line with --json, otherwise `human()`. */
  result(data: unknown, human: () => string): void;
  /** One JSON line (streams: watch, listen) or a human line. */
  line(data: unknown, human: string): void;
  /** A note for humans, on stderr (never mixed into --json output). */
  note(text: string): void;
}

export function output(
  json: boolean,
  stdout: NodeJS.WritableStream = process.stdout,
  stderr: NodeJS.WritableStream = process.stderr,
): Output {
  return {
    json,
    result(data, human) {
      stdout.write(json ? `${JSON.stringify(data)}\n` : human());
    },
    line(data, human) {
      stdout.write(json ? `${JSON.stringify(data)}\n` : `${human}\n`);
    },
    note(text) {
      stderr.write(`${text}\n`);
    },
  };
}

/**
 * Said when a live stream reconnects. The id it resumes after is a position in the stream (what --last-event-id
 * takes), not an event anyone saw: the line says what it means, that nothing in between is lost.
 */
export function reconnectedNote(lastEventId: string | undefined | null): string {
  return lastEventId
    ? `Reconnected: events since are sent now, none missed (stream position ${lastEventId})`
    : 'Reconnected: events since the start are sent now, none missed';
}

/** A key shown without its secret part: its prefix and last four characters. */
export function maskKey(value: string): string {
  const prefix = /^[a-z]+_/.exec(value)?.[0] ?? '';
  return `${prefix}…${value.slice(-4)}`;
}

export const TENANT_KEY_HOW =
  "tenant keys come from `callgate tenants create`, run on the server's store (same DATA_DIR or DATABASE_URL)";
export const NUMBER_KEY_HOW =
  'number keys from `callgate numbers create` (shown once) or `callgate keys regenerate <numberId>`';

/** What to do about a refused key: which key was sent and how to get the right kind (401), or which scope (403). */
export function refusalHint(code: string, sent: { header: string; value: string; url: string } | null): string | null {
  switch (code) {
    case 'UNAUTHORIZED':
      return sent
        ? `${sent.url} does not know the key sent as ${sent.header} (${maskKey(sent.value)}): ${TENANT_KEY_HOW}; ${NUMBER_KEY_HOW}`
        : `no key was sent: --key ps_... or CALLGATE_API_KEY; ${TENANT_KEY_HOW}; ${NUMBER_KEY_HOW}`;
    case 'TENANT_SCOPE_NOT_ALLOWED':
      return `this command needs a number key (scope: number) and ${sent ? maskKey(sent.value) : 'the key'} is a tenant key; ${NUMBER_KEY_HOW}`;
    case 'NUMBER_SCOPE_NOT_ALLOWED':
      return `this command needs a tenant key (scope: tenant) and ${sent ? maskKey(sent.value) : 'the key'} is a number key; ${TENANT_KEY_HOW}`;
    case 'NUMBER_HAS_LIVE_CALLS':
      return 'end its calls with `callgate calls terminate <callId>` (number key) and let calls being placed finish, or delete with --force if the provider can no longer end them';
    default:
      return null;
  }
}

/** How a failure is shown: one JSON line on stderr with --json, otherwise a sentence with the code and request id. */
export function describeError(
  error: unknown,
  json: boolean,
  sent: { header: string; value: string; url: string } | null = null,
): string {
  if (error instanceof CallgateError) {
    const hint = refusalHint(error.code, sent);
    if (json) {
      return JSON.stringify({
        error: error.message,
        code: error.code,
        status: error.status,
        requestId: error.requestId,
        ...(error.details ? { details: error.details } : {}),
        ...(hint ? { hint } : {}),
      });
    }
    const where = error.status ? `HTTP ${error.status} ` : '';
    const request = error.requestId ? ` (request ${error.requestId})` : '';
    const details = error.details ? `\n  details: ${JSON.stringify(error.details)}` : '';
    return `callgate: ${where}${error.code}: ${error.message}${request}${details}${hint ? `\n  ${hint}` : ''}`;
  }
  const message = (error as Error)?.message ?? String(error);
  return json ? JSON.stringify({ error: message, code: 'CLI_ERROR' }) : `callgate: ${message}`;
}
