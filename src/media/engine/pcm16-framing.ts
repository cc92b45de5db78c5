// The `pcm16` framing: audio as binary WebSocket frames of 16-bit little-endian PCM, 16 kHz mono, 20 ms
// (640 bytes) each; control as JSON text frames (start, dtmf and stop from the server, mark both ways, clear from
// the client). For clients that want raw samples without μ-law or base64.

export const PCM16_SAMPLE_RATE = 16_000;
export const PCM16_FRAME_SAMPLES = 320;
export const PCM16_FRAME_BYTES = PCM16_FRAME_SAMPLES * 2;

export interface Pcm16StreamInfo {
  streamId: string;
  callId: string;
  mode: 'talk' | 'listen';
}

export function pcm16Start(info: Pcm16StreamInfo): string {
  return JSON.stringify({
    event: 'start',
    streamId: info.streamId,
    callId: info.callId,
    mode: info.mode,
    mediaFormat: { encoding: 'audio/l16', sampleRate: PCM16_SAMPLE_RATE, channels: 1, frameBytes: PCM16_FRAME_BYTES },
  });
}

export function pcm16Mark(name: string): string {
  return JSON.stringify({ event: 'mark', mark: { name } });
}

/** A keypad digit the caller pressed. */
export function pcm16Dtmf(digit: string): string {
  return JSON.stringify({ event: 'dtmf', dtmf: { digit } });
}

export function pcm16Stop(reason: string): string {
  return JSON.stringify({ event: 'stop', reason });
}

/** Samples → the little-endian bytes of one binary frame (whatever the host's byte order). */
export function pcm16Encode(pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) {
    out.writeInt16LE(pcm[i] ?? 0, i * 2);
  }
  return out;
}

export type Pcm16ClientMessage =
  | { event: 'media'; pcm16k: Int16Array }
  | { event: 'mark'; name: string }
  | { event: 'clear' }
  | { event: 'error'; reason: string };

// One binary message may carry several frames (a client catching up), but not more than 10 s.
const MAX_BINARY_BYTES = PCM16_SAMPLE_RATE * 2 * 10;

export function parsePcm16Binary(data: Buffer): Pcm16ClientMessage {
  if (data.length % 2 !== 0) {
    return { event: 'error', reason: 'binary frames must hold whole 16-bit samples' };
  }
  if (data.length > MAX_BINARY_BYTES) {
    return { event: 'error', reason: `binary frame over ${MAX_BINARY_BYTES} bytes` };
  }
  const pcm = new Int16Array(data.length / 2);
  for (let i = 0; i < pcm.length; i++) {
    pcm[i] = data.readInt16LE(i * 2);
  }
  return { event: 'media', pcm16k: pcm };
}

export function parsePcm16Text(text: string): Pcm16ClientMessage {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { event: 'error', reason: 'not JSON' };
  }
  const m = (typeof message === 'object' && message !== null ? message : {}) as {
    event?: unknown;
    mark?: { name?: unknown };
    name?: unknown;
  };
  if (m.event === 'clear') {
    return { event: 'clear' };
  }
  if (m.event === 'mark') {
    // Both {mark:{name}} (as the server writes it) and a flat {name} are read.
    const name = m.mark?.name ?? m.name;
    if (typeof name !== 'string' || name.length === 0 || name.length > 256) {
      return { event: 'error', reason: 'mark.name must be a non-empty string' };
    }
    return { event: 'mark', name };
  }
  return { event: 'error', reason: `unknown event ${JSON.stringify(m.event)}` };
}
