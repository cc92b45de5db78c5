import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';

// Credentials never reach the logs, whatever a log call passes along.
const REDACT = [
  'req.headers["x-api-key"]',
  'req.headers["x-api-key-id"]',
  'req.headers.authorization',
  'req.headers["x-hub-signature-256"]',
  'req.headers.apikey',
  '*.accessToken',
  '*.appSecret',
  '*.verifyToken',
  '*.instanceToken',
  '*.webhookSecret',
  'req.headers["x-webhook-secret"]',
  '*.secret',
  '*.key',
];

/** Query parameters whose values are credentials (Meta's hub.verify_token, say). */
const SENSITIVE_QUERY_NAME = /token|secret|key|signature|password|auth/i;

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

/** The URL with the value of every credential-like query parameter replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) {
    return url;
  }
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq !== -1 && SENSITIVE_QUERY_NAME.test(decodedName(pair.slice(0, eq)))
        ? `${pair.slice(0, eq)}=[redacted]`
        : pair;
    });
  return `${url.slice(0, q)}?${query.join('&')}`;
}

interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  headers?: Record<string, unknown>;
  socket?: { remotePort?: number } | null;
}

// Fastify's own request serializer, with the query string's credentials redacted.
function req(request: LoggedRequest) {
  return {
    method: request.method,
    url: typeof request.url === 'string' ? redactUrl(request.url) : request.url,
    version: request.headers?.['accept-version'],
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

// Node's HTTP parser errors carry the raw request bytes (x-api-key included) as rawPacket: never log them.
function err(error: Error) {
  const serialized = pino.stdSerializers.err(error) as unknown;
  if (serialized && typeof serialized === 'object' && 'rawPacket' in serialized) {
    const { rawPacket: _raw, ...rest } = serialized as Record<string, unknown>;
    return rest;
  }
  return serialized;
}

export type LogFormat = 'json' | 'pretty' | 'auto';

/** Pretty lines for a person at a terminal, JSON for everything that collects logs; LOG_FORMAT decides when set. */
export function prettyLogs(format: LogFormat, stdoutIsTty: boolean): boolean {
  return format === 'pretty' || (format === 'auto' && stdoutIsTty);
}

const require = createRequire(import.meta.url);

// pino-pretty as a synchronous stream in this thread (not a transport worker): a line printed before a crash is
// never lost in a worker's buffer. It loads only when used.
function prettyStream(colorize: boolean): DestinationStream {
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pretty({
    colorize,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  });
}

/**
 * `destination` defaults to stdout, as JSON or (LOG_FORMAT=pretty, or auto at a terminal) pretty lines; tests pass
 * a memory stream to read what would be logged.
 */
export function createLogger(level: string, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const options = { level, redact: { paths: REDACT, censor: '[redacted]' }, serializers: { req, err } };
  if (destination) {
    return pino(options, destination);
  }
  const tty = process.stdout.isTTY === true;
  return prettyLogs(format, tty) ? pino(options, prettyStream(tty)) : pino(options);
}
