// This process as a media node: its heartbeat says it still holds the media of its calls (server media, and the
// sandbox's simulated users), and it looks for calls whose node stopped beating (a process that died) so that their
// calls end instead of waiting out the media timeout, or for ever.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { FailureLog } from '../../failure-log.ts';
import type { CallId, NumberId } from '../../ids.ts';
import {
  beatMediaNode,
  findLostMediaCalls,
  findLostRecordings,
  findMediaNodeBeat,
  forgetMediaNode,
  holdCallMedia,
} from '../../store/call-media.ts';
import type { Db } from '../../store/db.ts';
import {
  deleteSandboxUser,
  findLostSandboxUsers,
  insertSandboxUser,
  type LostSandboxUser,
} from '../../store/sandbox-users.ts';
import type { MediaReply } from './media-commands.ts';

// Every process with the engine on beats this often and looks for calls whose process stopped beating.
const NODE_INTERVAL_MS = 2000;
const NODE_STALE_MS = 10_000;
// A heartbeat younger than this is not written again with a call's media row: the loop below renews it well before
// the other processes would call it stale. Older (or none: an idle process stops beating), it goes in the row's
// transaction, so no process can see the row without a fresh heartbeat beside it.
const BEAT_FRESH_MS = NODE_STALE_MS / 2;
// A command's owner whose heartbeat has not moved for this long (three beats, on this process's own watch, so no
// clock skew between hosts counts; one late beat of a busy owner is not death) is not waited for any longer: it is
// dead or too stalled to answer soon.
const OWNER_SILENT_MS = NODE_INTERVAL_MS * 3;

export interface MediaNodeDeps {
  db: Db;
  now: () => Date;
  logger: Logger;
  /**
   * How many calls this process holds media for now (server media and simulated users): a process holding none
   * writes no heartbeat.
   */
  holding: () => number;
  /** A call whose media node stopped beating; absent, this process does not look for them. */
  onMediaLost?: (callId: CallId, numberId: NumberId) => Promise<void>;
  /** A recording whose media node stopped beating before finishing it (looked for only with onMediaLost). */
  onRecordingLost?: (callId: CallId, numberId: NumberId) => Promise<void>;
  /**
   * A sandbox user whose node stopped beating: its call, if still live, ends as the user's phone vanishing would.
   * Its row is removed once this resolves.
   */
  onSandboxUserLost?: (user: LostSandboxUser) => Promise<void>;
}

export class MediaNode {
  /** Names this process in `mediaNode`; random too, since a restarted container often has the same pid. */
  readonly name = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly #d: MediaNodeDeps;
  #timer: NodeJS.Timeout | null = null;
  /** When this process's last heartbeat was committed (the time it wrote, ms), or null: none since start or stop. */
  #lastBeatMs: number | null = null;

  readonly #failures: FailureLog;

  constructor(deps: MediaNodeDeps) {
    this.#d = deps;
    this.#failures = new FailureLog(
      deps.logger,
      { failed: 'media node heartbeat failed', recovered: 'media node heartbeat works again' },
      () => deps.now().getTime(),
    );
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  start(): void {
    if (this.#timer) {
      return;
    }
    const tick = () => {
      this.tickOnce().then(
        () => this.#failures.ok(),
        (err) => this.#failures.failed(err.message),
      );
    };
    tick();
    this.#timer = setInterval(tick, NODE_INTERVAL_MS);
    this.#timer.unref();
  }

  /** The durable row naming this process as the call's media node, with the heartbeat when that is not fresh. */
  async hold(
    callId: CallId,
    numberId: NumberId,
    recording: { path: string; volume: string | null } | null,
  ): Promise<void> {
    await this.#withBeat((now, beat) =>
      holdCallMedia(this.#d.db, {
        callId,
        numberId,
        mediaNode: this.name,
        recordingPath: recording?.path ?? null,
        recordingVolume: recording?.volume ?? null,
        now,
        beat,
      }),
    );
  }

  /** The durable row naming this process as the holder of a sandbox call's simulated user, as hold() does. */
  async holdSandboxUser(numberId: NumberId, externalCallId: string): Promise<void> {
    await this.#withBeat((now, beat) =>
      insertSandboxUser(this.#d.db, { numberId, externalCallId, mediaNode: this.name, now, beat }),
    );
  }

  async releaseSandboxUser(numberId: NumberId, externalCallId: string): Promise<void> {
    await deleteSandboxUser(this.#d.db, numberId, externalCallId);
  }

  /** Writes a row naming this process, with the heartbeat in its transaction when the last one is not fresh. */
  async #withBeat(write: (now: string, beat: boolean) => Promise<void>): Promise<void> {
    const now = this.#d.now();
    const age = this.#lastBeatMs === null ? null : now.getTime() - this.#lastBeatMs;
    const beat = age === null || age < 0 || age > BEAT_FRESH_MS;
    await write(now.toISOString(), beat);
    if (beat) {
      this.#beaten(now.getTime());
    }
  }

  /**
   * For a command sent to `node`: a reply in its place once it is gone. Lost the way the other processes judge it
   * (no row: it shut down cleanly; or no beat for NODE_STALE_MS) is the answer the owner gives for a call it no longer
   * has media for, 409; the sweep ends the call media_lost. Silent for OWNER_SILENT_MS while waiting is the
   * timeout's 503, only sooner.
   */
  watchOwner(node: string): () => Promise<MediaReply | null> {
    let seen: string | null = null;
    let seenSince = 0;
    return async () => {
      const beat = await findMediaNodeBeat(this.#d.db, node);
      const now = this.#d.now().getTime();
      if (beat === null || Date.parse(beat) < now - NODE_STALE_MS) {
        return { ok: false, code: 'CALL_STATE_CONFLICT', reason: 'the process holding the call is gone' };
      }
      const at = performance.now();
      if (beat !== seen) {
        seen = beat;
        seenSince = at;
        return null;
      }
      return at - seenSince > OWNER_SILENT_MS
        ? { ok: false, code: 'SERVICE_UNAVAILABLE', reason: 'the process holding the call stopped beating' }
        : null;
    };
  }

  /** Stops beating and says so: the calls left behind are ended by another process at its next look. */
  async stop(): Promise<void> {
    if (!this.#timer) {
      return;
    }
    clearInterval(this.#timer);
    this.#timer = null;
    this.#lastBeatMs = null;
    await forgetMediaNode(this.#d.db, this.name).catch(() => undefined);
  }

  /** One beat and one look (the loop's step; tests call it directly). */
  async tickOnce(): Promise<void> {
    const now = this.#d.now();
    // Only a process holding media beats (a new media row carries the beat when it is not fresh): an idle one
    // writes nothing.
    if (this.#d.holding() > 0) {
      await beatMediaNode(this.#d.db, this.name, now.toISOString());
      this.#beaten(now.getTime());
    }
    const staleBefore = new Date(now.getTime() - NODE_STALE_MS).toISOString();
    if (this.#d.onMediaLost) {
      for (const lost of await findLostMediaCalls(this.#d.db, this.name, staleBefore)) {
        await this.#d.onMediaLost(lost.callId, lost.numberId);
      }
      // Its calls end (above, or by the peer), but the recording its process was writing would stay "recording" for
      // good: no call.recording_ready, no delete (409).
      if (this.#d.onRecordingLost) {
        for (const lost of await findLostRecordings(this.#d.db, this.name, staleBefore)) {
          await this.#d.onRecordingLost(lost.callId, lost.numberId);
        }
      }
    }
    // After the media's look: a sandbox call with server media is left to it (findLostSandboxUsers).
    if (this.#d.onSandboxUserLost) {
      for (const lost of await findLostSandboxUsers(this.#d.db, this.name, staleBefore)) {
        await this.#d.onSandboxUserLost(lost);
        await deleteSandboxUser(this.#d.db, lost.numberId, lost.externalCallId);
      }
    }
  }

  #beaten(atMs: number): void {
    this.#lastBeatMs = Math.max(this.#lastBeatMs ?? atMs, atMs);
  }
}
