// Realtime WebSocket clients for the media rows of `npm run bench`, in their own process: one per call, Twilio
// Media Streams framing, each talking 880 Hz back (20 ms μ-law `media` messages, one shared clock,
// four offsets 5 ms apart) and counting
// the caller's frames it receives, so both directions of every call carry audio.
//
// Control (JSON over HTTP): POST /_connect {urls} opens a socket per URL; POST /_window answers the frames received
// and sent since the previous window, its length in seconds and the sockets open; POST /_close. Prints "LISTENING <port>".
import { WebSocket } from 'ws';
import { tone } from '../src/media/audio/tone.ts';
import { encodeMulaw } from '../src/media/engine/mulaw.ts';
import { serveControl } from './control-server.ts';
import { startStaggeredClock } from './staggered-clock.ts';

// One second of 880 Hz as the 50 `media` messages a client sends, built once.
const MESSAGES: string[] = (() => {
  const mulaw = encodeMulaw(tone(880, 1, 8000));
  const out: string[] = [];
  for (let i = 0; i + 160 <= mulaw.length; i += 160) {
    const payload = Buffer.from(mulaw.subarray(i, i + 160)).toString('base64');
    out.push(JSON.stringify({ event: 'media', streamSid: 'bench', media: { payload } }));
  }
  return out;
})();

const sockets = new Set<WebSocket>();
let received = 0;
let sent = 0;
/** When the current window began: frames per second are counted over the window's own length. */
let windowStart = performance.now();

function open(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('message', (data: Buffer) => {
      // Cheaper than parsing every message: only `media` messages carry this field.
      if (data.includes('"payload"')) {
        received += 1;
      }
    });
    ws.once('open', () => {
      sockets.add(ws);
      resolve();
    });
    ws.once('error', reject);
    ws.once('close', () => sockets.delete(ws));
  });
}

// Like the callers (bench/media-peers.ts): each client talks every 20 ms at its own offset. With
// BENCH_MEDIA_CLIENTS=listen they only listen, as a bot waiting for the caller does: callgate then sends silence.
if (process.env.BENCH_MEDIA_CLIENTS !== 'listen') {
  startStaggeredClock(
    () => sockets,
    (ws, frame) => {
      ws.send(MESSAGES[frame % MESSAGES.length] ?? '');
      sent += 1;
    },
  );
}

async function handle(path: string, body: Record<string, unknown>): Promise<unknown> {
  switch (path) {
    case '/_connect':
      await Promise.all((body.urls as string[]).map(open));
      return { open: sockets.size };
    case '/_window': {
      const now = performance.now();
      const taken = { received, sent, open: sockets.size, seconds: (now - windowStart) / 1000 };
      received = 0;
      sent = 0;
      windowStart = now;
      return taken;
    }
    case '/_close':
      for (const ws of sockets) {
        ws.close();
      }
      return { ok: true };
    default:
      throw new Error(`unknown path ${path}`);
  }
}

serveControl(handle);
