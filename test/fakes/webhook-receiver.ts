/**
 * A customer's webhook endpoint for tests: a real HTTP server on 127.0.0.1 that records every request
 * (headers and the raw body, so signatures can be checked byte for byte) and answers as told:
 * 200, any status with headers (500, 410, 429 + Retry-After, 302 + Location), slow, or hang (never answers).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Json } from '../helpers/json.ts';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
  /** Parsed JSON, or undefined when the body is not JSON. */
  body: Json;
  at: number;
}

export type Reply =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  | { kind: 'hang' };

export interface WebhookReceiver {
  url: string;
  requests: ReceivedRequest[];
  /** Every later request gets this answer (default 200). */
  setReply(reply: Reply): void;
  ok(): void;
  status(status: number, headers?: Record<string, string>): void;
  hang(): void;
  slow(delayMs: number): void;
  /** The next requests get these answers, one each, before the standing reply applies again. */
  queue(...replies: Reply[]): void;
  /** Resolves once `check` holds for the recorded requests. */
  waitFor(check: (requests: ReceivedRequest[]) => boolean, ms?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startWebhookReceiver(path = '/hook'): Promise<WebhookReceiver> {
  let standing: Reply = { kind: 'status', status: 200 };
  const queued: Reply[] = [];
  const requests: ReceivedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    readBody(req).then(
      (rawBody) => {
        let body: unknown;
        try {
          body = JSON.parse(rawBody);
        } catch {
          body = undefined;
        }
        requests.push({
          method: req.method ?? '',
          path: req.url ?? '',
          headers: { ...req.headers },
          rawBody,
          body,
          at: Date.now(),
        });
        const reply = queued.shift() ?? standing;
        if (reply.kind === 'hang') {
          return; // held open until the client gives up or close()
        }
        const send = () => {
          if (res.destroyed) {
            return;
          }
          res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
          res.end(reply.body ?? (reply.status < 300 ? 'ok' : `status ${reply.status}`));
        };
        if (reply.delayMs) {
          const timer = setTimeout(() => {
            timers.delete(timer);
            send();
          }, reply.delayMs);
          timers.add(timer);
        } else {
          send();
        }
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}${path}`,
    requests,
    setReply(reply) {
      standing = reply;
    },
    ok() {
      standing = { kind: 'status', status: 200 };
    },
    status(status, headers) {
      standing = { kind: 'status', status, ...(headers ? { headers } : {}) };
    },
    hang() {
      standing = { kind: 'hang' };
    },
    slow(delayMs) {
      standing = { kind: 'status', status: 200, delayMs };
    },
    queue(...replies) {
      queued.push(...replies);
    },
    async waitFor(check, ms = 5000, what = 'webhook requests') {
      const deadline = Date.now() + ms;
      while (!check(requests)) {
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}; received ${requests.length} request(s)`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() {
      for (const t of timers) {
        clearTimeout(t);
      }
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
