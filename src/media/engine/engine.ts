// This process's server media: one MediaSession per call it answered, up to MEDIA_MAX_SESSIONS. It makes the
// SDP answers, keeps the realtime hub in step with the live sessions, downloads and decodes `play` media, and
// closes a session once its call has ended anywhere (terminate, the peer's hang-up, max duration, another
// process): it polls the stored status of its calls, which covers every path without hooks into each of them.

import { accessSync, constants } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DIGITS_KEPT, KEYS_PER_SECOND, KeyBudget, type KeyPressed } from '../../calls/keypad.ts';
import type { FinishedRecording } from '../../calls/recordings.ts';
import type { MediaConfig } from '../../config.ts';
import type { CallId, NumberId } from '../../ids.ts';
import { makeDirectory } from '../../make-directory.ts';
import { deleteCallMedia, findCallStatuses } from '../../store/call-media.ts';
import type { Db } from '../../store/db.ts';
import { type MediaChannel, openMediaChannel } from '../../store/media-channel.ts';
import { type FramePacing, newFramePacing } from '../rtc/frame-clock.ts';
import { webRtcAudioProblem } from '../rtc/sdp-check.ts';
import { MediaWorkerPool } from '../workers/worker-pool.ts';
import { decodeMedia } from './decode-media.ts';
import { MediaDecodeError } from './decoded-audio.ts';
import type { EngineSession, MediaEndReason, PlayOptions, SessionOptions } from './engine-session.ts';
import { fetchMedia, MediaFetchError } from './fetch-media.ts';
import { LateFrameGuard, type LateFrameGuardOptions } from './late-frame-guard.ts';
import { localSession } from './local-session.ts';
import { type MediaCommand, MediaCommands, type MediaReply } from './media-commands.ts';
import type { MediaNode } from './media-node.ts';
import { peerFactoryFor } from './media-peers.ts';
import { PlayBudget, PlayQueueFullError } from './play-budget.ts';
import { type RealtimeHub, realtimeWsUrl } from './realtime-hub.ts';
import { recordingsVolume } from './recordings-volume.ts';
import { warmUpMedia } from './warm-up.ts';

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'REJECTED', 'MISSED']);
const WATCH_INTERVAL_MS = 500;
const MISSING_GRACE_MS = 5_000;

export interface MediaEngineDeps {
  config: MediaConfig;
  db: Db;
  realtime: RealtimeHub;
  logger: Logger;
  now: () => Date;
  /** For play downloads: the webhook rule (WEBHOOK_ALLOW_INSECURE_URLS lifts the address check). */
  allowInsecureUrls: boolean;
  /** Told when a session's media fails on its own, so the call can be ended FAILED/media_timeout. */
  onMediaFailure: (callId: CallId, numberId: NumberId) => void;
  /** PostgreSQL: the channel commands for calls held by other processes travel on; null with SQLite (one process). */
  databaseUrl: string | null;
  /** Where this process's realtime sockets are reached when PUBLIC_WS_BASE_URL is unset (commands from others). */
  fallbackWsBaseUrl: string;
  /**
   * This process as a media node: the rows naming it as its calls' holder, and the heartbeat beside them. Shared with
   * the sandbox's simulated users, and started and stopped with the process (app.ts), not with the engine.
   */
  node: MediaNode;
  /** Told when a call's recording is complete (ready) or could not be finished (failed): stores it, says so. */
  onRecordingDone?: (r: FinishedRecording) => Promise<void>;
  /** Told each key a caller presses (RFC 4733), with the call's keys so far: queues its webhook event. */
  onKeyPressed?: (k: KeyPressed) => void;
  /** Told what happens to sessions, for the metrics. */
  observer?: MediaObserver;
  /** The pacing guard's window and minimum (tests shorten them); the limit is MEDIA_MAX_LATE_PERCENT. */
  lateFrameWindow?: Omit<LateFrameGuardOptions, 'maxLatePercent'>;
}

/** Why no new session can be had now: the engine is off, full, or already sending its frames late. */
export type CapacityProblem = 'off' | 'full' | 'overloaded';

/** What the metrics hear from the engine as it happens (at most a few times per call, never per frame). */
export interface MediaObserver {
  /** An answer or offer refused: the engine is full (or off), overloaded, or the peer's offer cannot be answered. */
  refused(reason: 'capacity' | 'overloaded' | 'bad_offer'): void;
  /** A session that ran has ended, and why (a withdrawn answer is not counted). */
  ended(reason: string): void;
  /** ms from the SDP exchange to the peer's first audio packet. */
  firstAudio(ms: number): void;
}

/** The call's media ended while a command for it was under way. */
export class MediaGoneError extends Error {}

/** `ended`: the call ended while its answer was being made. */
export type AnswerOutcome = { ok: true; sdp: string } | { ok: false; reason: 'capacity' | 'bad_offer' | 'ended' };

export class MediaEngine {
  readonly realtime: RealtimeHub;
  private readonly d: MediaEngineDeps;
  /** MEDIA_WORKERS > 0: the worker threads the sessions run on; null: they run on this thread. */
  private readonly pool: MediaWorkerPool | null;
  private readonly newSession: (o: SessionOptions) => EngineSession;
  private readonly sessions = new Map<string, EngineSession>();
  private readonly unregister = new Map<string, () => void>();
  /** Unsubscribes the observer from a session's end: a withdrawn answer is not counted as an ended session. */
  private readonly unobserve = new Map<string, () => void>();
  private readonly awaitingAnswer = new Set<string>();
  /** Calls whose answer is being made: a session ended meanwhile is undone (answer()), its recording unannounced. */
  private readonly answering = new Set<string>();
  /**
   * Sessions whose media failed on their own, told to the call service: told again by the watcher while the call
   * lives, since an action holding the call then (an accept still waiting on Meta) turns the first telling away.
   */
  private readonly failed = new Set<string>();
  private readonly playBudgets = new Map<string, PlayBudget>();
  /**
   * Calls with a stopOnKey play queued since their last key: a key empties their budget, as a stop does. It may
   * then undercount audio queued without stopOnKey beside them; each such reset takes a key the caller pressed.
   */
  private readonly keyStoppable = new Set<string>();
  /** Each call's `play` downloads under way: its media's end gives them up (a stalled server holds nothing). */
  private readonly downloads = new Map<string, Set<AbortController>>();
  /** When each session's call row was first found missing (see endCallsGone). */
  private readonly missingSince = new Map<string, number>();
  private watcher: NodeJS.Timeout | null = null;
  /** This process's heartbeat and its look for calls of dead processes. */
  private readonly mediaNode: MediaNode;
  private started = false;
  private channel: MediaChannel | null = null;
  /** The start's warm-up (or the workers' start) while it runs; close() waits for it to let go of its sockets. */
  private warming: Promise<void> | null = null;
  /** close() has begun. */
  private closing = false;
  /** Commands to and from the other processes' engines. */
  readonly commands: MediaCommands;
  /** Frames paced by the sessions on this thread (the workers' are counted by the pool). */
  private readonly localPacing = newFramePacing();
  /** MEDIA_MAX_LATE_PERCENT > 0: refuses new sessions while frames go out late; sampled once a second. */
  private readonly lateFrames: LateFrameGuard | null;
  private lateFrameTimer: NodeJS.Timeout | null = null;

  constructor(deps: MediaEngineDeps) {
    this.d = deps;
    this.realtime = deps.realtime;
    const { config } = deps;
    this.pool =
      config.enabled && config.workers > 0
        ? new MediaWorkerPool(
            config.workers,
            {
              publicIp: config.publicIp,
              portRange: config.portRange,
              stunUrls: config.stunUrls,
              warmUp: config.warmUp,
            },
            deps.logger,
          )
        : null;
    if (this.pool) {
      const pool = this.pool;
      this.newSession = (o) => pool.open(o);
    } else {
      const factory = peerFactoryFor(config);
      this.newSession = (o) => localSession(factory, o, this.localPacing);
    }
    this.mediaNode = deps.node;
    this.commands = new MediaCommands(this.node, (c) => this.run(c), deps.logger);
    this.lateFrames =
      config.enabled && config.maxLatePercent > 0
        ? new LateFrameGuard({ maxLatePercent: config.maxLatePercent, ...deps.lateFrameWindow })
        : null;
  }

  /** Starts the pacing guard and (on PostgreSQL) the channel other processes send commands on; warm() warms up. */
  async start(): Promise<void> {
    if (!this.d.config.enabled || this.started) {
      return;
    }
    this.started = true;
    this.checkRecordingsDir();
    const guard = this.lateFrames;
    if (guard) {
      guard.sample(performance.now(), this.pacing());
      this.lateFrameTimer = setInterval(() => guard.sample(performance.now(), this.pacing()), 1000);
      this.lateFrameTimer.unref();
    }
    if (this.d.databaseUrl) {
      // Never refused: a channel PostgreSQL cannot take now listens once it can.
      this.channel = await openMediaChannel(
        this.d.databaseUrl,
        this.d.db,
        (m) => this.commands.receive(m),
        (err) => this.d.logger.warn({ err: err.message }, 'media channel error'),
      );
      this.commands.attach(this.channel);
    }
  }

  /**
   * Warms up (or starts the workers) in the background, once the server listens: a start that fails to listen does
   * no such work and logs no "warmed up" before its error. The first call then finds the code warm (warm-up.ts).
   */
  warm(): void {
    if (!this.started || this.closing || this.warming) {
      return;
    }
    this.warming = this.pool
      ? this.pool.warm().then((ms) => this.d.logger.info({ workers: ms.length, warmUpMs: ms }, 'media workers ready'))
      : this.d.config.warmUp
        ? warmUpMedia().then((ms) => this.d.logger.info({ warmUpMs: Math.round(ms) }, 'media engine warmed up'))
        : null;
    this.warming?.catch((err) => {
      // A shutdown during the warm-up stops it (the workers are terminated): that is no failure to report.
      if (!this.closing) {
        this.d.logger.warn({ err: err.message }, 'media warm-up failed');
      }
    });
  }

  /** Runs a command in the process `node` holding a call's media, answering at once if that process is gone. */
  sendTo(node: string, command: MediaCommand): Promise<MediaReply> {
    return this.commands.send(node, command, { watch: this.mediaNode.watchOwner(node) });
  }

  /** Names this process in the `mediaNode` of the calls whose media it holds. */
  get node(): string {
    return this.mediaNode.name;
  }

  get size(): number {
    return this.sessions.size;
  }

  get maxSessions(): number {
    return this.d.config.enabled ? this.d.config.maxSessions : 0;
  }

  /** Frames paced by every session of this process so far, on this thread and on the media workers. */
  pacing(): FramePacing {
    const p = this.localPacing;
    const w = this.pool?.pacing ?? newFramePacing();
    return { frames: p.frames + w.frames, late: p.late + w.late, skipped: p.skipped + w.skipped };
  }

  /** How many sessions each media worker holds ([] without workers). */
  workerLoad(): number[] {
    return this.pool?.load() ?? [];
  }

  hasCapacity(): boolean {
    return this.capacityProblem() === null;
  }

  /** Why a new session would be refused now, or null when one can be had. */
  capacityProblem(): CapacityProblem | null {
    if (!this.d.config.enabled) {
      return 'off';
    }
    if (this.sessions.size >= this.d.config.maxSessions) {
      return 'full';
    }
    return this.lateFrames?.overloaded(performance.now(), this.pacing()) ? 'overloaded' : null;
  }

  /**
   * An answer or offer refused, counted for the metrics (here, or by the API's check before it asked): an engine off
   * or full counts as `capacity`; a capacity refusal with no limit met (a session that could not be set up) too.
   */
  refused(why: CapacityProblem | 'bad_offer' | null): void {
    this.d.observer?.refused(why === 'overloaded' || why === 'bad_offer' ? why : 'capacity');
  }

  session(callId: string): EngineSession | undefined {
    return this.sessions.get(callId);
  }

  /** Answers the peer's offer with a new session (reserved at once, so concurrent answers cannot overbook). */
  async answer(callId: CallId, numberId: NumberId, offerSdp: string, record: boolean): Promise<AnswerOutcome> {
    // An offer that is no WebRTC audio session is refused before anything is reserved, written or opened.
    const problem = webRtcAudioProblem(offerSdp);
    if (problem) {
      this.d.logger.info({ callId, problem }, 'server media cannot answer this offer');
      this.refused('bad_offer');
      return { ok: false, reason: 'bad_offer' };
    }
    const session = this.reserve(callId, numberId, record);
    if (!session) {
      this.refused(this.capacityProblem());
      return { ok: false, reason: 'capacity' };
    }
    // The media row must be durable before the answer leaves (a process dying after the provider accepted is
    // found by the others through it); it is written while werift builds the answer rather than after it.
    this.answering.add(callId);
    const [answered, held] = await Promise.allSettled([
      session.answer(offerSdp),
      this.mediaNode.hold(callId, numberId, this.recordingOf(session.recordingPath)),
    ]).finally(() => this.answering.delete(callId));
    if (held.status === 'rejected') {
      this.d.logger.warn({ callId, err: (held.reason as Error).message }, "the call's media row could not be written");
      await this.end(callId, 'call_ended');
      throw held.reason;
    }
    if (this.sessions.get(callId) !== session) {
      // Its call ended while it was answered (the caller hung up; the status watch closed the session): nothing is
      // opened for a session that is gone, and it is undone as a refused answer is.
      await this.undo(callId, session.recordingPath);
      return { ok: false, reason: 'ended' };
    }
    if (answered.status === 'rejected') {
      this.d.logger.info(
        { callId, err: (answered.reason as Error).message },
        'server media could not answer the offer',
      );
      await this.withdraw(callId);
      this.refused('bad_offer');
      return { ok: false, reason: 'bad_offer' };
    }
    this.open(callId, session);
    return { ok: true, sdp: answered.value };
  }

  /** The provider refused the answer: the session ends and no row says this process holds the call's media. */
  async withdraw(callId: CallId): Promise<void> {
    // Nothing was recorded for a call the provider never answered, and the accept tried again records afresh into
    // the same file (opened exclusively): the file goes, and no recording outcome is reported.
    const recordingPath = this.sessions.get(callId)?.recordingPath ?? null;
    this.unobserve.get(callId)?.();
    await this.end(callId, 'call_ended', { reportRecording: false });
    await this.undo(callId, recordingPath);
  }

  /** No recording file and no row may remain of an answer that was never used. */
  private async undo(callId: CallId, recordingPath: string | null): Promise<void> {
    if (recordingPath) {
      await unlink(recordingPath).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') {
          this.d.logger.warn({ callId, err: err.message }, 'recording of a refused answer not removed');
        }
      });
    }
    // Best effort: the refusal must still reach the client and free the call's action slot. A row left behind is
    // overwritten by the next answer.
    await deleteCallMedia(this.d.db, callId).catch((err) =>
      this.d.logger.warn({ callId, err: err.message }, 'media row of a refused answer not removed'),
    );
  }

  /**
   * Outbound: an offer from a new session, for a call not stored yet (bind it once it is). The peer's answer is
   * picked up from the stored call when the provider's webhook brings it.
   */
  async offer(callId: CallId, numberId: NumberId, record: boolean): Promise<AnswerOutcome> {
    const session = this.reserve(callId, numberId, record);
    if (!session) {
      this.refused(this.capacityProblem());
      return { ok: false, reason: 'capacity' };
    }
    this.awaitingAnswer.add(callId);
    try {
      return { ok: true, sdp: await session.offer() };
    } catch (err) {
      // No call exists yet to fail: the session goes, and the start is refused like a full engine's.
      this.d.logger.warn({ callId, err: (err as Error).message }, 'server media could not make an offer');
      await this.withdraw(callId);
      this.refused(null);
      return { ok: false, reason: 'capacity' };
    }
  }

  /** The call row exists: record that this process holds its media, open it to realtime clients, watch it. */
  async bind(callId: CallId): Promise<void> {
    const session = this.sessions.get(callId);
    if (!session) {
      return;
    }
    await this.mediaNode.hold(callId, session.numberId as NumberId, this.recordingOf(session.recordingPath));
    // Ended while the row was written (a shutdown, say): nothing left to open, and its end was told already.
    if (this.sessions.get(callId) !== session || session.ended) {
      return;
    }
    this.open(callId, session);
  }

  private open(callId: CallId, session: EngineSession): void {
    this.unregister.set(callId, this.d.realtime.register(session.numberId, session));
    // Listened to for the session's life: its end drops its listeners.
    let digits = '';
    let count = 0;
    const budget = new KeyBudget(() => this.d.now().getTime());
    let told = false;
    session.onDigit((digit) => {
      if (this.keyStoppable.delete(callId)) {
        this.playBudgets.get(callId)?.stop(); // the session dropped its stopOnKey plays itself
      }
      count += 1;
      digits = (digits + digit).slice(-DIGITS_KEPT);
      if (budget.take()) {
        this.d.onKeyPressed?.({ callId, numberId: session.numberId as NumberId, digit, digits, count });
      } else if (!told) {
        told = true; // once per call: the flood itself must not flood the log
        this.d.logger.warn(
          { callId, keysPerSecond: KEYS_PER_SECOND },
          'keys arrive faster than a person presses them: call.dtmf events past the limit are not sent (count skips them)',
        );
      }
    });
    // Kept for the session's life: it is told once, when the session ends, however that comes about.
    const observer = this.d.observer;
    if (observer) {
      this.unobserve.set(
        callId,
        session.onEnded((reason) => observer.ended(reason)),
      );
    }
    this.watch();
  }

  private reserve(callId: CallId, numberId: NumberId, record: boolean): EngineSession | null {
    if (this.closing || !this.hasCapacity() || this.sessions.has(callId)) {
      return null;
    }
    const session = this.newSession({
      callId,
      numberId,
      recordingPath: record ? this.recordingPath(callId) : null,
      mediaTimeoutMs: this.d.config.timeoutSeconds * 1000,
      onFailure: () => this.reportFailure(callId, numberId),
      ...(this.d.observer ? { onFirstAudio: (ms: number) => this.d.observer?.firstAudio(ms) } : {}),
    });
    this.sessions.set(callId, session);
    return session;
  }

  /**
   * Downloads and decodes `mediaUrl`, queued on the call in request order; resolves once decoded (or rejects with
   * MediaFetchError/MediaDecodeError), so the API can say what was wrong with the file.
   */
  async play(callId: string, mediaUrl: string, options: PlayOptions = {}): Promise<void> {
    const session = this.sessions.get(callId);
    if (!session || session.ended) {
      throw new MediaGoneError(`the media of ${callId} has ended`);
    }
    const { config } = this.d;
    let budget = this.playBudgets.get(callId);
    if (!budget) {
      budget = new PlayBudget(config.playMaxSeconds);
      this.playBudgets.set(callId, budget);
    }
    const loaded = budget.admit();
    const download = new AbortController();
    let downloads = this.downloads.get(callId);
    if (!downloads) {
      downloads = new Set();
      this.downloads.set(callId, downloads);
    }
    downloads.add(download);
    const decoded = fetchMedia(mediaUrl, {
      maxBytes: config.playMaxBytes,
      timeoutMs: 15_000,
      allowInsecure: this.d.allowInsecureUrls,
      signal: download.signal,
    }).then((bytes) => decodeMedia(bytes, { maxSeconds: config.playMaxSeconds }));
    session.enqueuePlay(
      decoded.then((d) => d.pcm),
      options,
    );
    if (options.stopOnKey) {
      this.keyStoppable.add(callId);
    }
    let seconds: number | null = null;
    try {
      ({ seconds } = await decoded);
    } catch (err) {
      // Given up because the media ended: the file is not at fault, the call's state is.
      throw download.signal.aborted ? new MediaGoneError(`the media of ${callId} has ended`) : err;
    } finally {
      loaded(seconds);
      downloads.delete(download);
    }
    // The call ended while the file loaded: it will never be heard, and the client must not be told it queued.
    if (session.ended) {
      throw new MediaGoneError(`the media of ${callId} has ended`);
    }
  }

  stopPlay(callId: string): void {
    this.keyStoppable.delete(callId);
    this.playBudgets.get(callId)?.stop();
    this.sessions.get(callId)?.stopPlay();
  }

  /** Closes a session: sockets get stop + 1000, the recording is finished and its row updated. */
  async end(callId: string, reason: MediaEndReason, opts: { reportRecording?: boolean } = {}): Promise<void> {
    const session = this.sessions.get(callId);
    if (!session) {
      return;
    }
    // Decided now: the answer under way may finish (and undo this session) while the recording is closed below.
    const report = opts.reportRecording !== false && !this.answering.has(callId);
    this.sessions.delete(callId);
    this.playBudgets.delete(callId);
    this.keyStoppable.delete(callId);
    // A stalled download would hold its play request (and a shutdown) for up to its 15 s.
    for (const download of this.downloads.get(callId) ?? []) {
      download.abort();
    }
    this.downloads.delete(callId);
    this.awaitingAnswer.delete(callId);
    this.failed.delete(callId);
    this.unregister.get(callId)?.();
    this.unregister.delete(callId);
    // Told by the close below (unless withdraw() unsubscribed it first).
    this.unobserve.delete(callId);
    let recording: Awaited<ReturnType<EngineSession['close']>> = null;
    let failed = false;
    try {
      recording = await session.close(reason);
    } catch (err) {
      failed = true;
      this.d.logger.warn({ callId, err: (err as Error).message }, 'recording could not be finished');
    }
    if ((recording || failed) && report && this.d.onRecordingDone) {
      await this.d
        .onRecordingDone({
          callId: callId as CallId,
          numberId: session.numberId as NumberId,
          status: failed ? 'failed' : 'ready',
          durationSeconds: recording?.durationSeconds ?? null,
          sizeBytes: recording?.sizeBytes ?? null,
          path: recording?.path ?? null,
        })
        .catch((err) => this.d.logger.error({ callId, err: err.message }, 'recording outcome not stored'));
    }
  }

  /** A command from another process for a call whose media this one holds. */
  private async run(command: MediaCommand): Promise<MediaReply> {
    const session = this.sessions.get(command.callId);
    if (!session || session.ended) {
      return { ok: false, code: 'CALL_STATE_CONFLICT', reason: 'the call has no media here any more' };
    }
    switch (command.kind) {
      case 'play':
        try {
          await this.play(command.callId, command.mediaUrl, { stopOnKey: command.stopOnKey === true });
          return { ok: true };
        } catch (err) {
          if (err instanceof MediaFetchError || err instanceof MediaDecodeError) {
            return { ok: false, code: 'VALIDATION_ERROR', reason: err.message };
          }
          if (err instanceof PlayQueueFullError) {
            return { ok: false, code: 'RATE_LIMITED', reason: err.message, retryAfterSeconds: err.retryAfterSeconds };
          }
          if (err instanceof MediaGoneError) {
            return { ok: false, code: 'CALL_STATE_CONFLICT' };
          }
          throw err;
        }
      case 'stop-play':
        this.stopPlay(command.callId);
        return { ok: true };
      case 'realtime': {
        const issued = this.realtime.issue(command.numberId, command.callId, command.mode);
        if (!issued) {
          return { ok: false, code: 'CALL_STATE_CONFLICT' };
        }
        const base = this.d.config.publicWsBaseUrl ?? this.d.fallbackWsBaseUrl;
        return { ok: true, realtime: { wsUrl: realtimeWsUrl(base, issued.token), ...issued } };
      }
    }
  }

  async close(): Promise<void> {
    // No new session from here on: one reserved now would be missed by the sweep below.
    this.closing = true;
    await this.channel?.close().catch(() => undefined);
    this.channel = null;
    if (this.watcher) {
      clearInterval(this.watcher);
      this.watcher = null;
    }
    if (this.lateFrameTimer) {
      clearInterval(this.lateFrameTimer);
      this.lateFrameTimer = null;
    }
    const live = [...this.sessions.keys()];
    if (live.length > 0) {
      // Nothing else in the log says that a stop cut calls: their media goes with this process, and the calls end
      // FAILED (media_lost) once another process, or this one's next start, sees it gone (docs/media-engine.md).
      this.d.logger.warn(
        { calls: live.length, callIds: live.slice(0, 20) },
        `shutdown ends the server media of ${live.length} answered call${live.length === 1 ? '' : 's'}`,
      );
    }
    await Promise.all(live.map((id) => this.end(id, 'shutdown')));
    if (this.pool) {
      // Terminating the workers stops their warm-up too.
      await this.pool.close();
    } else {
      await this.warming?.catch(() => undefined);
    }
  }

  private async connectAnswered(callId: string, sdpAnswer: string): Promise<void> {
    const session = this.sessions.get(callId);
    try {
      // Checked as an offer is: werift's work on an SDP with hundreds of sections would stall every call here.
      const problem = webRtcAudioProblem(sdpAnswer);
      if (problem) {
        throw new Error(`not a WebRTC audio answer: ${problem}`);
      }
      await session?.applyAnswer(sdpAnswer);
    } catch (err) {
      this.d.logger.info({ callId, err: (err as Error).message }, "the peer's SDP answer could not be applied");
      if (session) {
        // Told once: a session whose media failed has told the call service already. One whose worker died while
        // the call rang (before any SDP exchange) told nothing, and its answered call must not stay up without media.
        if (!this.failed.has(callId)) {
          this.reportFailure(callId as CallId, session.numberId as NumberId);
        }
        await this.end(callId, 'media_timeout');
      }
    }
  }

  private reportFailure(callId: CallId, numberId: NumberId): void {
    this.failed.add(callId);
    this.d.onMediaFailure(callId, numberId);
  }

  /**
   * Said once at start, where an operator looks: a directory that cannot take files would otherwise show only as
   * the first recording failing. Not a start error: a process that never records needs no such directory.
   */
  private checkRecordingsDir(): void {
    const dir = this.d.config.recordingsDir;
    try {
      makeDirectory(dir, 0o700);
      accessSync(dir, constants.W_OK);
    } catch (err) {
      this.d.logger.warn(
        { dir, err: (err as Error).message },
        'RECORDINGS_DIR cannot be written: recordings will fail',
      );
    }
  }

  /** The recording's file and the id of the directory it is in, for the call's media row. */
  private recordingOf(path: string | null): { path: string; volume: string | null } | null {
    return path === null ? null : { path, volume: recordingsVolume(this.d.config.recordingsDir, true) };
  }

  private recordingPath(callId: string): string {
    try {
      makeDirectory(this.d.config.recordingsDir, 0o700);
    } catch (err) {
      // The call is answered all the same: its recorder cannot create the file either, so the recording ends
      // failed (with call.recording_ready) instead of the accept being refused for a directory a retry won't fix.
      this.d.logger.warn(
        { callId, dir: this.d.config.recordingsDir, err: (err as Error).message },
        'RECORDINGS_DIR cannot be created: this recording will fail',
      );
    }
    return join(this.d.config.recordingsDir, `${callId}.ogg`);
  }

  /**
   * Opened sessions whose call row is gone (its number was deleted) end once it has been missing for
   * MISSING_GRACE_MS (a read racing the delete's commit is not enough).
   */
  private async endCallsGone(missing: string[]): Promise<void> {
    const now = Date.now();
    for (const callId of missing) {
      const since = this.missingSince.get(callId) ?? now;
      this.missingSince.set(callId, since);
      if (now - since >= MISSING_GRACE_MS && this.sessions.has(callId)) {
        this.missingSince.delete(callId);
        this.d.logger.info({ callId }, 'the call of a media session is gone (its number was deleted): media ended');
        await this.end(callId, 'call_ended');
      }
    }
    for (const callId of this.missingSince.keys()) {
      if (!this.sessions.has(callId)) {
        this.missingSince.delete(callId);
      }
    }
  }

  private watch(): void {
    if (this.watcher) {
      return;
    }
    this.watcher = setInterval(() => {
      if (this.sessions.size === 0) {
        return;
      }
      const watched = [...this.sessions.keys()];
      findCallStatuses(this.d.db, watched).then(
        async (calls) => {
          for (const [callId, { status, sdpAnswer }] of calls) {
            this.missingSince.delete(callId);
            const failedSession = this.failed.has(callId) ? this.sessions.get(callId) : undefined;
            if (TERMINAL.has(status)) {
              await this.end(callId, 'call_ended');
            } else if (failedSession) {
              this.d.onMediaFailure(callId as CallId, failedSession.numberId as NumberId);
            } else if (sdpAnswer && this.awaitingAnswer.delete(callId)) {
              await this.connectAnswered(callId, sdpAnswer);
            }
          }
          // Only sessions already opened on a stored call: one offered for a call being placed is not stored yet.
          await this.endCallsGone(watched.filter((id) => !calls.has(id) && this.unregister.has(id)));
        },
        (err) => this.d.logger.warn({ err: err.message }, 'media watcher could not read call statuses'),
      );
    }, WATCH_INTERVAL_MS);
    this.watcher.unref();
  }
}
