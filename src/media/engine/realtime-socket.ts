// One realtime WebSocket attached to one call's media: converts the caller's 48 kHz frames into the chosen
// framing (Twilio μ-law 8 kHz or pcm16 16 kHz, re-chunked to exact 20 ms frames) and the client's audio back
// to 48 kHz for the caller. `listen` sockets only receive. The socket closes with `stop` + 1000 when the media
// ends; a slow client loses frames rather than growing the process's memory without bound.

import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import { Resampler } from '../audio/resampler.ts';
import type { OpusRate } from '../rtc/index.ts';
import {
  PCM16_FRAME_SAMPLES,
  PCM16_SAMPLE_RATE,
  parsePcm16Binary,
  parsePcm16Text,
  pcm16Dtmf,
  pcm16Encode,
  pcm16Mark,
  pcm16Start,
  pcm16Stop,
} from './pcm16-framing.ts';
import type { RealtimeTally } from './realtime-hub.ts';
import type { RealtimeTarget } from './realtime-target.ts';
import type { RealtimeGrant } from './realtime-tokens.ts';
import { parseTwilioClientMessage, TWILIO_FRAME_SAMPLES, TWILIO_SAMPLE_RATE, TwilioEncoder } from './twilio-framing.ts';

export const REALTIME_FORMATS = ['twilio', 'pcm16'] as const;
export type RealtimeFormat = (typeof REALTIME_FORMATS)[number];

// About 10 s of Twilio media messages; past it the client is not reading and new frames are dropped.
const MAX_BUFFERED_BYTES = 512 * 1024;
// Marks waiting for the audio queued before them; past it a client is flooding marks, and new ones are ignored.
const MAX_PENDING_MARKS = 1000;
/** How often a socket is pinged; one that answered neither the last ping nor anything else since is dropped. */
export const HEARTBEAT_MS = 20_000;

interface Framing {
  rate: OpusRate;
  frameSamples: number;
  open(): string[];
  /** One 20 ms frame as a message; `pcm` is a buffer reused for the next frame, so it is copied, never kept. */
  frame(pcm: Int16Array): string | Buffer;
  /** A frame dropped instead of sent: the framing's media clock still passes it. */
  skip(): void;
  mark(name: string): string;
  dtmf(digit: string): string;
  stop(reason: string): string;
  read(
    data: Buffer,
    isBinary: boolean,
  ):
    | { event: 'media'; pcm: Int16Array }
    | { event: 'mark'; name: string }
    | { event: 'clear' }
    | { event: 'error'; reason: string };
}

function twilioFraming(grant: RealtimeGrant): Framing {
  const encoder = new TwilioEncoder({
    streamSid: `MZ${randomBytes(16).toString('hex')}`,
    callSid: grant.callId,
    accountSid: grant.numberId,
    tracks: ['inbound'],
    customParameters: { mode: grant.mode },
  });
  return {
    rate: TWILIO_SAMPLE_RATE,
    frameSamples: TWILIO_FRAME_SAMPLES,
    open: () => [encoder.connected(), encoder.start()],
    frame: (pcm) => encoder.media(pcm),
    skip: () => encoder.skip(),
    mark: (name) => encoder.mark(name),
    dtmf: (digit) => encoder.dtmf(digit),
    stop: () => encoder.stop(),
    read: (data, isBinary) => {
      if (isBinary) {
        return { event: 'error', reason: 'the twilio framing is JSON text only' };
      }
      const m = parseTwilioClientMessage(data.toString('utf8'));
      return m.event === 'media' ? { event: 'media', pcm: m.pcm8k } : m;
    },
  };
}

function pcm16Framing(grant: RealtimeGrant): Framing {
  return {
    rate: PCM16_SAMPLE_RATE,
    frameSamples: PCM16_FRAME_SAMPLES,
    open: () => [
      pcm16Start({ streamId: `st_${randomBytes(12).toString('hex')}`, callId: grant.callId, mode: grant.mode }),
    ],
    frame: (pcm) => pcm16Encode(pcm),
    skip: () => {},
    mark: (name) => pcm16Mark(name),
    dtmf: (digit) => pcm16Dtmf(digit),
    stop: (reason) => pcm16Stop(reason),
    read: (data, isBinary) => {
      const m = isBinary ? parsePcm16Binary(data) : parsePcm16Text(data.toString('utf8'));
      return m.event === 'media' ? { event: 'media', pcm: m.pcm16k } : m;
    },
  };
}

export interface RealtimeSocketStats {
  framesSent: number;
  framesDropped: number;
  clientErrors: number;
}

/**
 * Wires the socket to the call's media until either side ends; returns live counters (for logs and tests) and
 * counts the socket and its dropped frames into the process's `tally` (for the metrics).
 */
export function attachRealtimeSocket(
  socket: WebSocket,
  grant: RealtimeGrant,
  format: RealtimeFormat,
  target: RealtimeTarget,
  tally: RealtimeTally = { open: 0, framesDropped: 0 },
  heartbeatMs = HEARTBEAT_MS,
): RealtimeSocketStats {
  const framing = format === 'pcm16' ? pcm16Framing(grant) : twilioFraming(grant);
  const stats: RealtimeSocketStats = { framesSent: 0, framesDropped: 0, clientErrors: 0 };
  // The caller is decoded at the framing's rate when no other listener wants more: then nothing is resampled.
  let down: Resampler | null = null;
  let ended = false;
  let pendingMarks = 0;
  // Assigned below; a target that has already ended may call `finish` from inside onEnded.
  let stopEnded = () => {};

  const send = (data: string | Buffer) => {
    if (socket.readyState === socket.OPEN) {
      socket.send(data);
    }
  };
  for (const message of framing.open()) {
    send(message);
  }

  // The caller's audio is re-chunked into exact 20 ms frames in one buffer the framings copy out of: no array is
  // made per frame (each would be work for every young-generation GC, for every call).
  const chunk = new Int16Array(framing.frameSamples);
  let filled = 0;
  // Time the caller's clock passed unheard (lost packets) goes to the client as silence: its stream keeps the
  // call's time, as Twilio's does (every 20 ms a frame), and its timestamps with it.
  let silent: Int16Array | null = null;
  const stopAudio = target.onCallerAudio((frame, rate, missed) => {
    if (missed > 0) {
      silent = silent?.length === rate / 50 ? silent : new Int16Array(rate / 50);
      for (let i = 0; i < missed && !ended; i++) {
        take(silent, rate);
      }
    }
    take(frame, rate);
  }, framing.rate);

  // Digits go to `listen` clients too: they are what the caller did, like the audio.
  // A client that does not read gets no more of them than of frames: its buffer stays bounded.
  const stopDigits = target.onDigit((digit) => {
    if (socket.bufferedAmount <= MAX_BUFFERED_BYTES) {
      send(framing.dtmf(digit));
    }
  });

  function take(frame: Int16Array, rate: OpusRate): void {
    if (rate !== framing.rate && down?.fromRate !== rate) {
      down = new Resampler(rate, framing.rate);
    }
    const converted = rate === framing.rate ? frame : (down as Resampler).process(frame);
    for (let at = 0; at < converted.length; ) {
      const n = Math.min(chunk.length - filled, converted.length - at);
      chunk.set(converted.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled < chunk.length) {
        break;
      }
      filled = 0;
      if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
        stats.framesDropped++;
        tally.framesDropped++;
        framing.skip();
        continue;
      }
      send(framing.frame(chunk));
      stats.framesSent++;
    }
  }

  const finish = (reason: string) => {
    if (ended) {
      return;
    }
    ended = true;
    stopAudio();
    stopDigits();
    stopEnded();
    send(framing.stop(reason));
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) {
      socket.close(1000, reason.slice(0, 120));
    }
  };
  stopEnded = target.onEnded(finish);
  if (ended) {
    stopEnded();
  }

  // A client whose host vanished (no FIN: a dropped network, a suspended laptop) would stay counted as open, its
  // frames buffered up to the cap, until the call ends: a ping it cannot answer finds it out. WebSocket clients
  // answer pings by themselves.
  let heard = true;
  const heartbeat = setInterval(() => {
    if (socket.readyState !== socket.OPEN) {
      return;
    }
    if (!heard) {
      socket.terminate();
      return;
    }
    heard = false;
    socket.ping();
  }, heartbeatMs);
  heartbeat.unref();
  socket.on('pong', () => {
    heard = true;
  });

  socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    heard = true;
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const message = framing.read(bytes, isBinary);
    if (message.event === 'error') {
      stats.clientErrors++;
      return;
    }
    if (grant.mode === 'listen' || ended) {
      return; // receive-only: the client's audio and marks never reach the caller
    }
    if (message.event === 'media') {
      target.talk.push(message.pcm, framing.rate);
    } else if (message.event === 'mark') {
      if (pendingMarks >= MAX_PENDING_MARKS) {
        stats.clientErrors++;
        return;
      }
      pendingMarks++;
      const name = message.name;
      target.talk.mark(() => {
        pendingMarks--;
        // A client that does not read gets no more echoes than frames: its buffer stays bounded.
        if (socket.bufferedAmount <= MAX_BUFFERED_BYTES) {
          send(framing.mark(name));
        }
      });
    } else {
      target.talk.clear();
    }
  });
  // Counted here, beside the listener that uncounts it: nothing between them can throw.
  tally.open += 1;
  socket.on('close', () => {
    clearInterval(heartbeat);
    tally.open -= 1;
    ended = true;
    stopAudio();
    stopDigits();
    stopEnded();
  });
  return stats;
}
