// Recordings of server-media calls: finishing one records its outcome and queues call.recording_ready in one
// transaction (the outbox rule: the event exists if and only if the row says ready/failed); reading and deleting
// are scoped to the key's number like every call read.

import { constants } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { ApiError } from '../errors.ts';
import type { CallId, NumberId } from '../ids.ts';
import { recordingsVolume } from '../media/engine/recordings-volume.ts';
import { findCallMediaForNumber, updateRecording } from '../store/call-media.ts';
import { findCallForNumber, lockCallRow } from '../store/calls.ts';
import type { Db } from '../store/db.ts';
import { persistCallSideEvent } from './outbox.ts';

export interface FinishedRecording {
  callId: CallId;
  numberId: NumberId;
  status: 'ready' | 'failed';
  durationSeconds: number | null;
  sizeBytes: number | null;
  /** The file, when one was finished. */
  path: string | null;
}

export class Recordings {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #recordingsDir: string;

  constructor(deps: { db: Db; clock: Clock; logger: Logger; recordingsDir: string }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#recordingsDir = deps.recordingsDir;
  }

  /**
   * A recording written to another RECORDINGS_DIR than this process's (another host's, not shared) is not here to
   * serve or remove: 404 saying so, and nothing changes (a DELETE must not say "deleted" while the file stays).
   */
  #assertHere(callId: CallId, recording: { volume: string | null }): void {
    if (recording.volume === null || recording.volume === recordingsVolume(this.#recordingsDir, false)) {
      return;
    }
    this.#logger.warn(
      { callId, dir: this.#recordingsDir },
      'recording is in another RECORDINGS_DIR: processes that record must share one',
    );
    throw new ApiError('RECORDING_NOT_FOUND', {
      details: {
        reason:
          'the recording was written by a process whose RECORDINGS_DIR this one does not share; ask through that ' +
          'process, or give every process one shared RECORDINGS_DIR',
      },
    });
  }

  async finished(r: FinishedRecording): Promise<void> {
    const stored = await this.#record(r, false);
    // The number was deleted while the call was recorded: nothing could ever fetch or delete the file.
    if (!stored && r.path) {
      await unlink(r.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') {
          this.#logger.warn({ callId: r.callId, err: err.message }, 'recording of a deleted call not removed');
        }
      });
    }
  }

  /**
   * The process recording the call died first: the recording failed. Only while it is still "recording", so the
   * processes that all notice it queue one call.recording_ready between them.
   */
  async lost(callId: CallId, numberId: NumberId): Promise<void> {
    if (
      await this.#record(
        { callId, numberId, status: 'failed', durationSeconds: null, sizeBytes: null, path: null },
        true,
      )
    ) {
      this.#logger.warn({ callId, numberId }, 'recording failed: the process recording it is gone');
    }
  }

  async #record(r: FinishedRecording, whileRecording: boolean): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      // Locked: the event's place among the call's deliveries comes from the call read here (persistCallSideEvent).
      // A call.ended committed after an unlocked read would wait for this recording, told after it.
      await lockCallRow(tx, r.callId);
      const call = await findCallForNumber(tx, r.numberId, r.callId);
      if (!call) {
        return false;
      }
      const now = this.#clock.now().toISOString();
      if (!(await updateRecording(tx, r.callId, { ...r, now }, { whileRecording })) && whileRecording) {
        return false;
      }
      const recording = {
        status: r.status,
        durationSeconds: r.durationSeconds === null ? null : Math.round(r.durationSeconds),
        sizeBytes: r.sizeBytes,
      };
      await persistCallSideEvent(tx, call, 'call.recording_ready', { recording }, now);
      return true;
    });
  }

  /**
   * The file of a ready recording of this number's call, opened: what is served is the file that was there when
   * it was looked at, even if it is removed a moment later. The caller closes it (its read stream does). A file
   * that is gone, or is no longer a file (someone put a directory in its place), is RECORDING_NOT_FOUND.
   */
  async open(numberId: NumberId, callId: string): Promise<{ file: FileHandle; size: number }> {
    const call = await findCallForNumber(this.#db, numberId, callId);
    if (!call) {
      throw new ApiError('CALL_NOT_FOUND');
    }
    const media = await findCallMediaForNumber(this.#db, numberId, call.id);
    const recording = media?.recording;
    // Said why: a bare 404 left a first user wondering where the file went when the call was never recorded.
    if (!media) {
      throw new ApiError('RECORDING_NOT_FOUND', {
        details: {
          reason:
            "this call's audio was not held by callgate, which records only what it holds: calls of META and " +
            'SANDBOX numbers answered or placed without an sdp (server media)',
        },
      });
    }
    if (!recording) {
      // A call the business placed was never accepted: naming accept sent its caller to the wrong request.
      const how =
        call.direction === 'OUTBOUND'
          ? 'calls placed without an sdp are recorded with "record": true on POST /v1/calls'
          : 'calls are recorded when answered without an sdp with "record": true ' +
            '(callgate calls accept <callId> --record)';
      throw new ApiError('RECORDING_NOT_FOUND', {
        details: { reason: `this call was not recorded: ${how}, or on a number with "recordCalls": true` },
      });
    }
    if (recording.status === 'deleted' || recording.status === 'failed') {
      throw new ApiError('RECORDING_NOT_FOUND', {
        details: { reason: `this call's recording ${recording.status === 'deleted' ? 'was deleted' : 'failed'}` },
      });
    }
    if (recording.status === 'recording') {
      throw new ApiError('CALL_STATE_CONFLICT', {
        message: 'The call is still being recorded',
        details: { status: call.status },
      });
    }
    this.#assertHere(call.id, recording);
    // Non-blocking: a FIFO someone put in the file's place would otherwise hold a libuv thread until a writer came
    // (four such GETs stall every file and DNS operation of the process); it is then refused as not a file.
    const file = await open(recording.path, constants.O_RDONLY | constants.O_NONBLOCK).catch(
      (err: NodeJS.ErrnoException) => {
        // Out of descriptors is this process's state, not the recording's: a 404 would tell the client the
        // recording is gone for good.
        if (err.code === 'EMFILE' || err.code === 'ENFILE') {
          this.#logger.warn({ callId: call.id, err: err.message }, 'recording file cannot be opened now');
          throw new ApiError('SERVICE_UNAVAILABLE', { headers: { 'retry-after': '1' } });
        }
        if (err.code !== 'ENOENT') {
          this.#logger.warn({ callId: call.id, err: err.message }, 'recording file cannot be opened');
        }
        return null;
      },
    );
    const stats = await file?.stat().catch(() => null);
    if (!file || !stats?.isFile()) {
      await file?.close();
      throw new ApiError('RECORDING_NOT_FOUND');
    }
    return { file, size: stats.size };
  }

  /** Deletes the file; the call keeps `recording.status: "deleted"`. Deleting twice is fine. */
  async delete(numberId: NumberId, callId: string): Promise<{ id: CallId; status: 'deleted' }> {
    const call = await findCallForNumber(this.#db, numberId, callId);
    if (!call) {
      throw new ApiError('CALL_NOT_FOUND');
    }
    const recording = (await findCallMediaForNumber(this.#db, numberId, call.id))?.recording;
    if (!recording) {
      throw new ApiError('RECORDING_NOT_FOUND');
    }
    if (recording.status === 'recording') {
      throw new ApiError('CALL_STATE_CONFLICT', {
        message: 'The call is still being recorded',
        details: { status: call.status },
      });
    }
    if (recording.status !== 'deleted') {
      this.#assertHere(call.id, recording);
    }
    await removeRecordingFile(recording.path).catch((err: Error) => {
      this.#logger.warn({ callId: call.id, err: err.message }, 'recording file not deleted');
      throw err;
    });
    await updateRecording(this.#db, call.id, {
      status: 'deleted',
      durationSeconds: recording.durationSeconds,
      sizeBytes: null,
      now: this.#clock.now().toISOString(),
    });
    return { id: call.id, status: 'deleted' };
  }
}

/**
 * Removes a recording's file. Gone, or something that is not the recording in its place (a directory; a file where
 * the directory was), is done too: there is no recording file left, and what is there is not callgate's to remove.
 */
export async function removeRecordingFile(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT' && err.code !== 'EISDIR' && err.code !== 'ENOTDIR') {
      throw err;
    }
  });
}
