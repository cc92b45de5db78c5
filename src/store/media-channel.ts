// PostgreSQL LISTEN/NOTIFY channel the media engines of several processes talk over: a command for the process
// holding a call's media, and its reply. A dedicated connection listens (a pooled one could be handed to another
// query mid-listen); notifications go out through the pool. Payloads are JSON, well under NOTIFY's 8000 bytes.

import pg from 'pg';
import type { Db } from './db.ts';

const CHANNEL = 'callgate_media';
const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 5000;

export interface MediaChannel {
  notify(message: object): Promise<void>;
  close(): Promise<void>;
}

export async function openMediaChannel(
  url: string,
  db: Db,
  onMessage: (message: unknown) => void,
  onError: (err: Error) => void,
): Promise<MediaChannel> {
  let closed = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  let delay = RETRY_FIRST_MS;

  const listen = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) {
        return;
      }
      try {
        onMessage(JSON.parse(n.payload));
      } catch {
        // not ours, or garbled: nothing to answer
      }
    });
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) {
        return;
      }
      lost = true;
      if (err) {
        onError(err);
      }
      c.end().catch(() => undefined);
      if (client === c) {
        client = null;
      }
      reconnectLater();
    };
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      lost = true;
      c.end().catch(() => undefined);
      throw err;
    }
    if (closed) {
      await c.end().catch(() => undefined);
      return;
    }
    // A PostgreSQL restart or a dropped connection ends the LISTEN: without listening again, this process would
    // never hear another command for the calls it holds (the senders would time out) until it restarted.
    c.on('error', onLost);
    c.on('end', () => onLost());
    client = c;
    delay = RETRY_FIRST_MS;
  };

  const reconnectLater = () => {
    if (closed || retry) {
      return;
    }
    retry = setTimeout(() => {
      retry = null;
      listen().catch((err: Error) => {
        onError(err);
        delay = Math.min(RETRY_MAX_MS, delay * 2);
        reconnectLater();
      });
    }, delay);
    retry.unref();
  };

  // Unreachable now (PostgreSQL restarting as this process starts): listen as soon as it is back, rather than never.
  await listen().catch((err: Error) => {
    onError(err);
    reconnectLater();
  });
  return {
    notify: async (message) => {
      await db.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(message)]);
    },
    close: async () => {
      closed = true;
      if (retry) {
        clearTimeout(retry);
        retry = null;
      }
      const c = client;
      client = null;
      await c?.end();
    },
  };
}
