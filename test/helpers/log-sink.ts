// A logger writing JSON lines to memory, for tests that assert on what an operator would read in the logs.
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger } from '../../src/logger.ts';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface LogSink {
  logger: Logger;
  lines: LogLine[];
  /** Lines whose message matches. */
  find(msg: RegExp): LogLine[];
}

export const LEVEL = { info: 30, warn: 40, error: 50 } as const;

export function logSink(level = 'info'): LogSink {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line));
      }
      done();
    },
  });
  return { logger: createLogger(level, stream), lines, find: (msg) => lines.filter((l) => msg.test(l.msg)) };
}
