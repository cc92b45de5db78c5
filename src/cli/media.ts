// `callgate calls play|stop-play|listen|recording` for calls whose media callgate holds (and play on web numbers).
// listen opens a listen-only realtime session in the pcm16 framing and writes the caller's audio to a WAV file
// when the call ends, after --seconds, or on Ctrl-C.

import { writeFile } from 'node:fs/promises';
import type { Output } from './output.ts';
import { UsageError, untilSignal } from './remote.ts';

const RATE = 16_000;

interface CallsClient {
  play(callId: string, input: { mediaUrl: string; stopOnKey?: boolean }): Promise<{ id: string; status: string }>;
  stopPlay(callId: string): Promise<{ id: string; status: string }>;
  realtimeSession(callId: string, input: { mode: 'talk' | 'listen' }): Promise<{ wsUrl: string }>;
  recording(callId: string): Promise<Uint8Array>;
}

/** A mono 16-bit PCM WAV file around the samples. */
export function wavBytes(pcm: Buffer, rate = RATE): Buffer {
  const head = Buffer.alloc(44);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(36 + pcm.length, 4);
  head.write('WAVEfmt ', 8, 'latin1');
  head.writeUInt32LE(16, 16);
  head.writeUInt16LE(1, 20);
  head.writeUInt16LE(1, 22);
  head.writeUInt32LE(rate, 24);
  head.writeUInt32LE(rate * 2, 28);
  head.writeUInt16LE(2, 32);
  head.writeUInt16LE(16, 34);
  head.write('data', 36, 'latin1');
  head.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([head, pcm]);
}

export async function play(
  calls: CallsClient,
  out: Output,
  callId: string,
  mediaUrl: string,
  stopOnKey = false,
): Promise<void> {
  // The server fetches the file itself: a local path would come back as the API's schema errors about `clear`.
  if (!/^https?:\/\//i.test(mediaUrl)) {
    throw new UsageError(
      `<mediaUrl> is a URL the server fetches (https://…), not a file on this machine: got "${mediaUrl}". ` +
        'Serve the file (e.g. `python3 -m http.server` in its folder) and pass its URL; an http:// or local one ' +
        'needs the server started with WEBHOOK_ALLOW_INSECURE_URLS=true (local development only)',
    );
  }
  const result = await calls.play(callId, stopOnKey ? { mediaUrl, stopOnKey } : { mediaUrl });
  out.result(result, () => `${result.id} playing ${mediaUrl}${stopOnKey ? ' until a key is pressed' : ''}\n`);
}

export async function recording(calls: CallsClient, out: Output, callId: string, file: string): Promise<void> {
  const bytes = await calls.recording(callId);
  await writeFile(file, bytes);
  out.result(
    { id: callId, file, sizeBytes: bytes.length },
    () => `${callId} recording written to ${file} (${bytes.length} bytes)\n`,
  );
}

export async function stopPlay(calls: CallsClient, out: Output, callId: string): Promise<void> {
  const result = await calls.stopPlay(callId);
  out.result(result, () => `${result.id} stopped playing\n`);
}

/** The key a pcm16 `dtmf` message tells, or null for any other control message. */
function keyPressed(text: string): string | null {
  try {
    const message = JSON.parse(text) as { event?: unknown; dtmf?: { digit?: unknown } };
    return message.event === 'dtmf' && typeof message.dtmf?.digit === 'string' ? message.dtmf.digit : null;
  } catch {
    return null;
  }
}

export async function listen(
  calls: CallsClient,
  out: Output,
  callId: string,
  file: string,
  seconds: number | null,
): Promise<void> {
  if (seconds !== null && (!Number.isFinite(seconds) || seconds <= 0)) {
    throw new UsageError('--seconds is a positive number');
  }
  const { wsUrl } = await calls.realtimeSession(callId, { mode: 'listen' });
  const chunks: Buffer[] = [];
  const stop = untilSignal();
  const socket = new WebSocket(`${wsUrl}&format=pcm16`);
  socket.binaryType = 'arraybuffer';
  await new Promise<void>((resolve, reject) => {
    const timer = seconds === null ? null : setTimeout(() => socket.close(1000), seconds * 1000);
    socket.onopen = () => out.note(`Listening to ${callId} into ${file} (Ctrl-C to stop)…`);
    socket.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) {
        chunks.push(Buffer.from(e.data));
        return;
      }
      const digit = keyPressed(String(e.data));
      if (digit) {
        out.line({ type: 'dtmf', callId, digit }, `Key pressed: ${digit}`);
      }
    };
    socket.onerror = () => reject(new Error('the realtime socket failed (token used, expired, or the call ended)'));
    socket.onclose = () => {
      if (timer) {
        clearTimeout(timer);
      }
      resolve();
    };
    stop.signal.addEventListener('abort', () => socket.close(1000));
  }).finally(() => stop.dispose());
  const pcm = Buffer.concat(chunks);
  await writeFile(file, wavBytes(pcm));
  const written = { file, seconds: pcm.length / 2 / RATE, bytes: pcm.length + 44 };
  out.result(written, () => `Wrote ${written.seconds.toFixed(1)} s of the caller's audio to ${file}\n`);
}
