// PostgreSQL LISTEN/NOTIFY channel the media engines of several processes talk over: a command for the process
// holding a call's media, and its reply. A dedicated connection listens (a pooled one could be handed to another
// query mid-listen); notifications go out through the pool. Payloads are JSON, well under NOTIFY's 8000 bytes.

import pg from 'pg';
import type { Db } from './db.ts';

const CHANNEL = 'callgate_media';

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
  const client = new pg.Client({ connectionString: url });
  client.on('error', onError);
  client.on('notification', (n) => {
    if (n.channel !== CHANNEL || !n.payload) {
      return;
    }
    try {
      onMessage(JSON.parse(n.payload));
    } catch {
      // not ours, or garbled: nothing to answer
    }
  });
  await client.connect();
  await client.query(`LISTEN ${CHANNEL}`);
  return {
    notify: async (message) => {
      await db.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(message)]);
    },
    close: () => client.end(),
  };
}
