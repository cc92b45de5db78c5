// A network condition between a client and a real server: an HTTP proxy on loopback that forwards (streaming,
// so SSE passes through), and on demand answers the next requests itself (503 + Retry-After, 502, ...) or drops
// every open connection. It records what clients sent, so tests can check retries and their headers.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  at: number;
  answeredBy: 'proxy' | 'server';
  /** The status the client got (undefined while unanswered or when the connection was dropped). */
  status?: number;
}
/** A status to answer with, or `hang: true` to never answer (the client times out). */
export interface CannedReply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  hang?: boolean;
}

export interface FaultProxy {
  url: string;
  requests: ProxiedRequest[];
  /** The next n requests (optionally only those whose path starts with `pathPrefix`) get `reply` from the proxy. */
  failNext(n: number, reply: CannedReply, pathPrefix?: string): void;
  /**
   * The next n requests (optionally only those whose path starts with `pathPrefix`) reach the server, which does
   * their work, and the client's connection is reset before the answer: the answer is lost on the way back.
   */
  loseAnswers(n: number, pathPrefix?: string): void;
  /** Destroys every open connection (clients see a reset; streams end). */
  dropConnections(): void;
  /** While true, connections are reset at once, open ones included (the server looks down). */
  setRefusing(refusing: boolean): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  const canned: { reply: CannedReply; pathPrefix: string | undefined }[] = [];
  const losing: (string | undefined)[] = [];
  const sockets = new Set<Socket>();
  let refusing = false;

  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const index = canned.findIndex((c) => c.pathPrefix === undefined || path.startsWith(c.pathPrefix));
    const entry = index >= 0 ? canned.splice(index, 1)[0] : undefined;
    const record: ProxiedRequest = {
      method: req.method ?? '',
      path,
      headers: { ...req.headers },
      at: Date.now(),
      answeredBy: entry ? 'proxy' : 'server',
    };
    requests.push(record);
    if (entry) {
      req.resume();
      if (entry.reply.hang) {
        return; // held until the client gives up or close()
      }
      req.on('end', () => {
        record.status = entry.reply.status;
        res.writeHead(entry.reply.status, { 'content-type': 'application/json', ...entry.reply.headers });
        res.end(entry.reply.body ?? '');
      });
      return;
    }
    const lost = losing.findIndex((prefix) => prefix === undefined || path.startsWith(prefix));
    const loseAnswer = lost >= 0 && losing.splice(lost, 1).length === 1;
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path,
        headers: { ...req.headers, host: upstream.host },
      },
      (up) => {
        if (loseAnswer) {
          up.resume();
          up.on('end', () => res.destroy());
          return;
        }
        record.status = up.statusCode ?? 502;
        res.writeHead(record.status, up.headers);
        up.pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    forward.on('error', () => res.destroy());
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  server.on('connection', (socket) => {
    if (refusing) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext(n, reply, pathPrefix) {
      for (let i = 0; i < n; i++) {
        canned.push({ reply, pathPrefix });
      }
    },
    loseAnswers(n, pathPrefix) {
      for (let i = 0; i < n; i++) {
        losing.push(pathPrefix);
      }
    },
    dropConnections() {
      for (const s of sockets) {
        s.destroy();
      }
    },
    setRefusing(value) {
      refusing = value;
      if (value) {
        for (const s of sockets) {
          s.destroy();
        }
      }
    },
    async close() {
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
