// Records a call to stereo Ogg/Opus: the caller on the left, the business (play + realtime talk) on the right.
// It is clocked by the outgoing frame pacing, one stereo frame per 20 ms tick, so the two channels stay aligned
// and the file's length is the call's even when the caller sends nothing; caller audio waits in a short FIFO
// (at most 200 ms, which absorbs network jitter) for its tick.

import { createWriteStream, fstat, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { ENGINE_FRAME, ENGINE_RATE } from './audio-queue.ts';
import { OggOpusWriter } from './ogg-opus-writer.ts';
import { OPUS_PRE_SKIP, OpusFrameEncoder } from './opus-encoder.ts';

const MAX_CALLER_BACKLOG = ENGINE_RATE / 5;
/**
 * The caller's audio waiting beyond this (40 ms: network jitter's room) for CATCH_UP_TICKS ticks in a row is a
 * backlog a burst left (packets held up on the way, or a stall of the process), not jitter: the oldest 20 ms of it
 * is dropped, so its channel comes back beside the business's instead of staying behind for the rest of the call.
 */
const CALLER_JITTER_ROOM = 2 * ENGINE_FRAME;
const CATCH_UP_TICKS = 25;
/** Silent frames encoded for real before their packet may stand for more (they carry the end of the last sound). */
const SILENCE_ENCODED = 2;
/**
 * What a recording may hold in memory unwritten (~6 minutes of stereo Opus): a disk that stopped taking writes (a
 * hung network mount) would otherwise grow the process by the recording's rate for the rest of the call.
 */
const MAX_UNWRITTEN_BYTES = 4 * 1024 * 1024;

export interface CallRecorderOptions {
  maxUnwrittenBytes?: number;
  /** Opens the file (tests give a disk that hangs). */
  open?: (path: string) => Writable;
}

export interface RecordingResult {
  path: string;
  durationSeconds: number;
  sizeBytes: number;
}

export class CallRecorder {
  readonly path: string;
  private readonly file: Writable;
  private readonly encoder = new OpusFrameEncoder(2);
  private readonly writer: OggOpusWriter;
  private caller: Int16Array[] = [];
  private callerSamples = 0;
  private frames = 0;
  private bytes = 0;
  private finished: Promise<RecordingResult> | null = null;
  private error: Error | null = null;
  /** The file's descriptor once opened: finish() checks the path still names that file. */
  private fd: number | null = null;

  /** Set when the disk stopped taking this file's writes: finish() then gives the file up without waiting. */
  private stalled = false;
  /** Ticks in a row with nothing from either side, and (past SILENCE_ENCODED of them) the packet the last made. */
  private silentTicks = 0;
  /** Ticks in a row that ended with more of the caller waiting than CALLER_JITTER_ROOM. */
  private behindTicks = 0;
  private silentPacket: Buffer | null = null;

  constructor(path: string, opts: CallRecorderOptions = {}) {
    this.path = path;
    const maxUnwritten = opts.maxUnwrittenBytes ?? MAX_UNWRITTEN_BYTES;
    this.file = opts.open ? opts.open(path) : createWriteStream(path, { flags: 'wx', mode: 0o600 });
    // Kept for finish(): an error can come long before it (the file cannot be created, the disk fills).
    this.file.on('error', (err) => {
      this.error ??= err;
    });
    this.file.on('open', (fd: number) => {
      this.fd = fd;
    });
    this.writer = new OggOpusWriter(
      (chunk) => {
        if (this.file.writableLength > maxUnwritten) {
          this.stalled = true;
          this.error ??= new Error(
            `the recordings disk took none of this recording's last ${maxUnwritten} bytes: recording stopped`,
          );
          return;
        }
        this.bytes += chunk.length;
        this.file.write(chunk);
      },
      { channels: 2, preSkip: OPUS_PRE_SKIP },
    );
  }

  /** The caller's decoded audio, as it arrives. */
  hearCaller(frame: Int16Array): void {
    this.caller.push(frame);
    this.callerSamples += frame.length;
    while (this.callerSamples > MAX_CALLER_BACKLOG && this.caller.length > 1) {
      this.callerSamples -= this.caller.shift()?.length ?? 0;
    }
  }

  /** One tick: the business frame sent now (null: silence) beside the caller's next 20 ms. */
  tick(business: Int16Array | null): void {
    // A file that failed (could not be created, the disk filled) takes no more: encoding the rest of the call
    // would spend a stereo encode every 20 ms on a recording that can only end failed.
    if (this.finished || this.error) {
      return;
    }
    const callerHeard = this.callerSamples > 0;
    const left = this.takeCaller();
    this.behindTicks = this.callerSamples > CALLER_JITTER_ROOM ? this.behindTicks + 1 : 0;
    if (this.behindTicks >= CATCH_UP_TICKS) {
      this.behindTicks = 0;
      this.takeCaller(); // 20 ms dropped: a small skip in the caller's speech, once every half second at most
    }
    const stereo = new Int16Array(ENGINE_FRAME * 2);
    for (let i = 0; i < ENGINE_FRAME; i++) {
      stereo[2 * i] = left[i] ?? 0;
      stereo[2 * i + 1] = business?.[i] ?? 0;
    }
    const packet = this.encoder.encode(stereo);
    this.writer.writePacket(packet, ENGINE_FRAME);
    this.frames++;
    this.silentTicks = callerHeard || business ? 0 : this.silentTicks + 1;
    this.silentPacket = this.silentTicks > SILENCE_ENCODED ? packet : null;
  }

  /**
   * Frames the call's clock skipped after a stall: the time passed, so the recording keeps it (the business silent,
   * the caller's waiting audio taken), or it would come out shorter than the call and the caller's channel behind.
   * Once both sides are silent the encoder's own silence packet is repeated: a long stall costs no encoding.
   */
  skip(frames: number): void {
    for (let i = 0; i < frames && !this.finished && !this.error; i++) {
      if (this.silentPacket && this.callerSamples === 0) {
        this.writer.writePacket(this.silentPacket, ENGINE_FRAME);
        this.frames++;
      } else {
        this.tick(null);
      }
    }
  }

  /**
   * Ends the file; resolves once it is on disk. Rejects when it could not be written, or when its path no longer
   * names the file written (someone removed or replaced it meanwhile): that recording is not there to be served.
   */
  finish(): Promise<RecordingResult> {
    this.finished ??= this.end();
    return this.finished;
  }

  private async end(): Promise<RecordingResult> {
    this.writer.end();
    this.encoder.close();
    if (this.stalled) {
      // Its writes may never come back: waiting for them would hold the call's end (and a shutdown) with them.
      this.file.destroy();
      throw this.error as Error;
    }
    const fd = this.fd;
    const written =
      typeof fd === 'number'
        ? await new Promise<Stats | null>((resolve) => fstat(fd, (err, s) => resolve(err ? null : s)))
        : null;
    await new Promise<void>((resolve, reject) => {
      this.file.end((err?: Error | null) => {
        // The stream's own error first: once it has failed, end() only says the stream was destroyed.
        const failed = this.error ?? err;
        if (failed) {
          reject(failed);
          return;
        }
        resolve();
      });
    });
    const there = await stat(this.path).catch(() => null);
    if (written && (there?.ino !== written.ino || there?.dev !== written.dev)) {
      throw new Error(`the recording file ${this.path} was removed or replaced while it was written`);
    }
    return {
      path: this.path,
      durationSeconds: (this.frames * ENGINE_FRAME) / ENGINE_RATE,
      sizeBytes: this.bytes,
    };
  }

  private takeCaller(): Int16Array {
    const out = new Int16Array(ENGINE_FRAME);
    let filled = 0;
    while (filled < ENGINE_FRAME && this.caller.length > 0) {
      const head = this.caller[0] as Int16Array;
      const n = Math.min(ENGINE_FRAME - filled, head.length);
      out.set(head.subarray(0, n), filled);
      filled += n;
      this.callerSamples -= n;
      if (n === head.length) {
        this.caller.shift();
      } else {
        this.caller[0] = head.subarray(n);
      }
    }
    return out;
  }
}
