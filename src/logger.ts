import pino, { type Logger } from 'pino';

// Credentials never reach the logs, whatever a log call passes along.
const REDACT = [
  'req.headers["x-api-key"]', 'req.headers["x-api-key-id"]', 'req.headers.authorization', 'req.headers["x-hub-signature-256"]',
  'req.headers.apikey', '*.accessToken', '*.appSecret', '*.verifyToken', '*.instanceToken', '*.secret', '*.key',
];

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } });
}
