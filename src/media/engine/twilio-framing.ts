// Twilio Media Streams framing (bidirectional <Connect><Stream> flavour), so voice-bot frameworks written for
// Twilio plug into a callgate call unchanged. Server → client: connected, start, media, dtmf, mark, stop; client →
// server: media, mark, clear. Every server message but `connected` carries `streamSid` and a `sequenceNumber`
// counting from "1"; media carries 20 ms of base64 μ-law at 8 kHz with `chunk` counting from "1" and `timestamp`
// in milliseconds since the stream started (on the media clock: 20 ms a frame, counting the frames a client that
// was not reading lost, not the wall clock). Numbers are strings, as Twilio sends them.

import { decodeMulaw, encodeMulaw } from './mulaw.ts';

export const TWILIO_SAMPLE_RATE = 8000;
export const TWILIO_FRAME_SAMPLES = 160; // 20 ms at 8 kHz

export type TwilioTrack = 'inbound' | 'outbound';

export interface TwilioStreamInfo {
  streamSid: string;
  callSid: string;
  accountSid: string;
  tracks: TwilioTrack[];
  customParameters: Record<string, string>;
}

/** Writes the server's side of one stream; holds the sequence and chunk counters. */
export class TwilioEncoder {
  private readonly info: TwilioStreamInfo;
  private sequence = 0;
  private readonly chunks: Record<TwilioTrack, number> = { inbound: 0, outbound: 0 };
  /** 20 ms frames of each track the media clock has passed without a message (see `skip`). */
  private readonly skipped: Record<TwilioTrack, number> = { inbound: 0, outbound: 0 };

  constructor(info: TwilioStreamInfo) {
    this.info = info;
  }

  connected(): string {
    return JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' });
  }

  start(): string {
    const { streamSid, accountSid, callSid, tracks, customParameters } = this.info;
    return JSON.stringify({
      event: 'start',
      sequenceNumber: this.next(),
      start: {
        accountSid,
        streamSid,
        callSid,
        tracks,
        customParameters,
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: TWILIO_SAMPLE_RATE, channels: 1 },
      },
      streamSid,
    });
  }

  /** One 20 ms frame of 8 kHz PCM. */
  media(pcm8k: Int16Array, track: TwilioTrack = 'inbound'): string {
    const chunk = ++this.chunks[track];
    return JSON.stringify({
      event: 'media',
      sequenceNumber: this.next(),
      media: {
        track,
        chunk: String(chunk),
        timestamp: String((chunk - 1 + this.skipped[track]) * 20),
        payload: encodeMulaw(pcm8k).toString('base64'),
      },
      streamSid: this.info.streamSid,
    });
  }

  /**
   * A frame not sent (the client was not reading): `chunk` counts messages, but `timestamp` is the time in the
   * stream, so the frames after it say where they are (bots time barge-in and transcripts by it).
   */
  skip(track: TwilioTrack = 'inbound'): void {
    this.skipped[track] += 1;
  }

  /** A keypad digit the caller pressed, as Twilio tells it (`track` is always the caller's, `inbound_track`). */
  dtmf(digit: string): string {
    return JSON.stringify({
      event: 'dtmf',
      streamSid: this.info.streamSid,
      sequenceNumber: this.next(),
      dtmf: { track: 'inbound_track', digit },
    });
  }

  /** The client's mark, echoed once the audio sent before it has been played (or dropped by `clear`). */
  mark(name: string): string {
    return JSON.stringify({
      event: 'mark',
      sequenceNumber: this.next(),
      streamSid: this.info.streamSid,
      mark: { name },
    });
  }

  stop(): string {
    const { streamSid, accountSid, callSid } = this.info;
    return JSON.stringify({ event: 'stop', sequenceNumber: this.next(), streamSid, stop: { accountSid, callSid } });
  }

  private next(): string {
    this.sequence += 1;
    return String(this.sequence);
  }
}

export type TwilioClientMessage =
  | { event: 'media'; pcm8k: Int16Array }
  | { event: 'mark'; name: string }
  | { event: 'clear' }
  | { event: 'error'; reason: string };

const MAX_MARK_NAME = 256;
// Twilio accepts payloads of any length; a cap keeps one message from buffering minutes of audio at once.
const MAX_PAYLOAD_BYTES = 8000 * 10; // 10 s of μ-law

/** Reads one text frame from the client. Unknown events are errors the caller may log; they never end the call. */
export function parseTwilioClientMessage(text: string): TwilioClientMessage {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { event: 'error', reason: 'not JSON' };
  }
  if (typeof message !== 'object' || message === null) {
    return { event: 'error', reason: 'not a JSON object' };
  }
  const m = message as { event?: unknown; media?: { payload?: unknown }; mark?: { name?: unknown } };
  switch (m.event) {
    case 'media': {
      const payload = m.media?.payload;
      if (typeof payload !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(payload)) {
        return { event: 'error', reason: 'media.payload must be base64' };
      }
      const bytes = Buffer.from(payload, 'base64');
      if (bytes.length > MAX_PAYLOAD_BYTES) {
        return { event: 'error', reason: `media.payload over ${MAX_PAYLOAD_BYTES} bytes` };
      }
      return { event: 'media', pcm8k: decodeMulaw(bytes) };
    }
    case 'mark': {
      const name = m.mark?.name;
      if (typeof name !== 'string' || name.length === 0 || name.length > MAX_MARK_NAME) {
        return { event: 'error', reason: 'mark.name must be a non-empty string' };
      }
      return { event: 'mark', name };
    }
    case 'clear':
      return { event: 'clear' };
    default:
      return { event: 'error', reason: `unknown event ${JSON.stringify(m.event)}` };
  }
}
