// The simulated WhatsApp side of sandbox numbers: each user is an audio endpoint inside callgate, and what it does
// reaches the call machine exactly as Meta's webhooks would (offer, answer SDP, statuses, terminate, permission
// replies). Sessions live in this process; after a restart their calls read as already ended, as at Meta, and the
// calls a gone process left live are ended as the users' phones vanishing would (userGone).

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.ts';
import type { NumberId } from '../../ids.ts';
import type { Heard } from '../../media/audio/monitor.ts';
import { AudioEndpoint, type EndpointState } from '../../media/rtc/audio-endpoint.ts';
import type { PeerFactory } from '../../media/rtc/peer-factory.ts';
import { webRtcAudioProblem } from '../../media/rtc/sdp-check.ts';
import type { Call, Direction } from '../../model/call.ts';
import type { NumberRecord } from '../../model/number.ts';
import type { PermissionReply } from '../../model/permission.ts';
import type { ProviderCallEvent, ProviderEnd } from '../../model/provider-event.ts';
import { failure, ok, type ProviderFailure, type ProviderResult } from '../types.ts';
import { loadAudio, parseAudioSpec } from './audio.ts';
import { type AnswerMode, callingEnabled, permissionOf, permissionsPatch, sandboxSettingsOf } from './settings.ts';

export interface SandboxDeps {
  peers: PeerFactory;
  clock: Clock;
  logger: Logger;
  /** Provider events in, as the Meta webhook route would apply them. */
  applyEvent(
    number: NumberRecord,
    event: ProviderCallEvent,
    direction: Direction,
    providerData: Record<string, unknown>,
  ): Promise<void>;
  recordPermissionReply(number: NumberRecord, reply: PermissionReply): Promise<void>;
  loadNumber(id: NumberId): Promise<NumberRecord | null>;
  mergeNumberConfig(id: NumberId, patch: Record<string, unknown>): Promise<void>;
  /**
   * The durable record of which process holds each user (the media node's sandbox_users rows): written before the
   * user's call can exist, removed once the user is over. Absent, nothing is recorded (unit tests).
   */
  users?: SandboxUserRecords;
  allowInsecureAudioUrls?: boolean;
  timing?: Partial<SandboxTiming>;
}

export interface SandboxUserRecords {
  hold(numberId: NumberId, externalCallId: string): Promise<void>;
  release(numberId: NumberId, externalCallId: string): Promise<void>;
}

/** Stored with every sandbox call, so that the call says `sandbox: true` wherever it is shown. */
export const SANDBOX_CALL = Object.freeze({ sandbox: true });

export interface SandboxTiming {
  /** A caller nobody answers hangs up after this long (Meta: 30–60 s). */
  ringGiveUpSeconds: number;
  /** A user asked for call permission replies after this long. */
  permissionReplySeconds: number;
  /** Time from `connect` to the user's phone ringing and the answer SDP coming back. */
  connectDelayMs: number;
  /** How often live simulated users look whether their number still exists. */
  orphanCheckMs: number;
  /** A user's end the store refused is told again after this long, then twice as long each time (up to 30 s). */
  endRetryMs: number;
}

const DEFAULT_TIMING: SandboxTiming = {
  ringGiveUpSeconds: 60,
  permissionReplySeconds: 1,
  connectDelayMs: 100,
  orphanCheckMs: 5_000,
  endRetryMs: 1_000,
};
const MAX_END_RETRY_MS = 30_000;
/** Ended sessions stay inspectable this long. */
const KEEP_ENDED_MS = 10 * 60_000;
const TEMPORARY_PERMISSION_SECONDS = 7 * 24 * 3600;
/**
 * Meta's "media receive timeout": what an answered call ends with when the user's phone vanishes (no hang-up is
 * sent; the relay stops hearing it). docs/sandbox.md "A process that is gone".
 */
const PHONE_VANISHED_ERROR = '138021';
/** Each simulated user holds sockets and a codec: a number may have this many calls up at once. */
export const MAX_LIVE_CALLS_PER_NUMBER = 10;

export interface InboundRequest {
  from: string;
  audio: string;
  hangupAfterSeconds: number | null;
  /** How this user answers when the business calls it back; the number's setting otherwise. */
  answer: AnswerMode | null;
}

export interface SessionView {
  externalCallId: string;
  direction: Direction;
  user: string;
  audio: string;
  media: EndpointState;
  answered: boolean;
  ended: boolean;
  heard: Heard;
  framesSent: number;
  packetsReceived: number;
}

interface Session {
  externalCallId: string;
  numberId: NumberId;
  direction: Direction;
  user: string;
  audio: string;
  endpoint: AudioEndpoint;
  answeredAt: string | null;
  endedAt: string | null;
  preAcceptSdp: string | null;
  answerApplied: boolean;
  hangupAfterSeconds: number | null;
  timers: Set<NodeJS.Timeout>;
  final: { heard: Heard; stats: { framesSent: number; packetsReceived: number }; media: EndpointState } | null;
}

/** The error texts Meta gives for the same situations (docs/spec/providers-meta.md §2). */
const callGone = (): ProviderFailure => failure('ALREADY_ENDED', 'Call not found or already ended', 138_003);
const badRequest = (message: string): ProviderFailure => failure('INVALID_REQUEST', message, 100);

/** Meta's 138000: calling is off on the number (its settings' status). */
const callingDisabled = (message: string): ProviderFailure => failure('CONFIG', message, 138_000);
const tooMany = (): ProviderFailure =>
  failure('RATE_LIMITED', `at most ${MAX_LIVE_CALLS_PER_NUMBER} simulated calls at once on a sandbox number`, null, {
    retryAfterSeconds: 5,
  });

/** Keys a simulated user may have waiting to be sent (about 13 s of them): see pressKeys. */
export const MAX_PENDING_KEYS = 64;

export class SandboxSimulator {
  readonly #d: SandboxDeps;
  readonly #timing: SandboxTiming;
  readonly #sessions = new Map<string, Session>();
  /** Calls of each number between their admission and their session (see #claimSlot). */
  readonly #starting = new Map<string, number>();
  /** Per-user answer overrides, set when a user calls in with `answer`. */
  readonly #answerOverrides = new Map<string, AnswerMode>();
  #closed = false;
  /** Runs while simulated users are live: a user whose number was deleted (here or by another process) hangs up. */
  #orphanCheck: NodeJS.Timeout | null = null;

  constructor(deps: SandboxDeps) {
    this.#d = deps;
    this.#timing = { ...DEFAULT_TIMING, ...deps.timing };
  }

  /** A simulated user calls the number: a real SDP offer arrives as Meta's user-initiated `connect`. */
  async startInbound(
    number: NumberRecord,
    request: InboundRequest,
  ): Promise<ProviderResult<{ externalCallId: string }>> {
    const spec = parseAudioSpec(request.audio, this.#d.allowInsecureAudioUrls);
    if (!spec.ok) {
      return badRequest(spec.reason);
    }
    if (!callingEnabled(number)) {
      return callingDisabled(
        // Said how to undo: the 400 alone left a user who had tried PUT /v1/calls/settings stuck.
        'calling is disabled on this number (settings status DISABLED): WhatsApp would not deliver a user’s call; ' +
          'turn it on with PUT /v1/calls/settings {"status":"ENABLED"} (number key)',
      );
    }
    const release = this.#claimSlot(number);
    if (!release) {
      return tooMany();
    }
    const user = digits(request.from);
    let session: Session;
    let endpoint: AudioEndpoint;
    try {
      const source = await loadAudio(spec.value, this.#d.allowInsecureAudioUrls);
      if (!source.ok) {
        return badRequest(source.reason);
      }
      if (request.answer) {
        this.#answerOverrides.set(`${number.id}:${user}`, request.answer);
      }
      endpoint = new AudioEndpoint(this.#d.peers, { source: source.value });
      session = this.#newSession(number, 'INBOUND', user, request.audio, endpoint, request.hangupAfterSeconds);
    } finally {
      release();
    }
    try {
      // Before the offer: no call may exist that no row says this process holds.
      await this.#d.users?.hold(number.id, session.externalCallId);
      const offer = await endpoint.createOffer();
      await this.#d.applyEvent(
        number,
        {
          type: 'offer',
          externalCallId: session.externalCallId,
          peerNumber: user,
          at: this.#now(),
          sdpOffer: offer,
          bizOpaqueCallbackData: null,
        },
        'INBOUND',
        SANDBOX_CALL,
      );
    } catch (error) {
      // No call was made of it (the store refused, say): the session must not count as live for ever.
      session.endedAt = this.#now();
      await this.#stopMedia(session);
      await this.#release(session);
      throw error;
    }
    // A caller nobody answers gives up, as a person would.
    this.#after(session, this.#timing.ringGiveUpSeconds * 1000, () => {
      if (!session.answeredAt) {
        void this.#hangUp(session, 'caller gave up');
      }
    });
    return { ok: true, value: { externalCallId: session.externalCallId } };
  }

  async preAccept(number: NumberRecord, call: Call, sdpAnswer: string): Promise<ProviderResult> {
    const session = this.#live(number, call);
    if (!session) {
      return callGone();
    }
    if (session.direction !== 'INBOUND' || session.answeredAt) {
      return badRequest('pre_accept is only valid on a ringing user-initiated call');
    }
    if (session.preAcceptSdp !== null) {
      return badRequest('pre_accept was already sent for this call');
    }
    const applied = await this.#applyAnswer(session, sdpAnswer);
    if (applied.ok) {
      session.preAcceptSdp = sdpAnswer;
    }
    return applied;
  }

  async accept(number: NumberRecord, call: Call, sdpAnswer: string | null): Promise<ProviderResult> {
    const session = this.#live(number, call);
    if (!session) {
      return callGone();
    }
    if (session.direction !== 'INBOUND' || session.answeredAt) {
      return badRequest('accept is only valid on a ringing user-initiated call');
    }
    if (!sdpAnswer) {
      return badRequest('session.sdp is required');
    }
    if (session.preAcceptSdp !== null && normaliseSdp(session.preAcceptSdp) !== normaliseSdp(sdpAnswer)) {
      return badRequest('The SDP of accept must match the SDP of pre_accept');
    }
    if (!session.answerApplied) {
      const applied = await this.#applyAnswer(session, sdpAnswer);
      if (!applied.ok) {
        return applied;
      }
    }
    this.#answered(session);
    return ok;
  }

  async endCall(number: NumberRecord, call: Call, action: 'reject' | 'terminate'): Promise<ProviderResult> {
    const session = this.#live(number, call);
    if (!session) {
      return callGone();
    }
    const ringingInbound = session.direction === 'INBOUND' && !session.answeredAt;
    if (action === 'reject' && !ringingInbound) {
      return badRequest('reject is only valid on a ringing user-initiated call');
    }
    if (action === 'terminate' && ringingInbound) {
      return badRequest('terminate is not valid on a ringing user-initiated call; use reject');
    }
    // Meta answers the action, then sends one terminate webhook of its own.
    setImmediate(() => void this.#end(session, null));
    await this.#stopMedia(session);
    return ok;
  }

  /** The business calls a simulated user: the user's phone answers per the number's sandbox settings. */
  async start(
    number: NumberRecord,
    to: string,
    sdpOffer: string | null,
  ): Promise<ProviderResult<{ externalCallId: string; providerData: Record<string, unknown> }>> {
    const user = digits(to);
    if (!sdpOffer) {
      return badRequest('session.sdp is required');
    }
    if (!callingEnabled(number)) {
      return callingDisabled('Calling is not enabled for this phone number');
    }
    if (!permissionOf(number, user, this.#d.clock.now().getTime())) {
      return failure('PERMISSION_REQUIRED', 'No approved call permission found', 138_006);
    }
    // As Meta: one live call per number and user, whichever side placed it.
    if (this.#liveWith(number, user)) {
      return failure('INVALID_REQUEST', 'There is already an ongoing call with this user', 138_003);
    }
    const problem = webRtcAudioProblem(sdpOffer);
    if (problem) {
      return badRequest(`Invalid SDP: ${problem}`);
    }
    const release = this.#claimSlot(number);
    if (!release) {
      return tooMany();
    }
    const settings = sandboxSettingsOf(number);
    let session: Session;
    let answerSdp: string;
    try {
      const spec = parseAudioSpec(settings.audio, this.#d.allowInsecureAudioUrls);
      const source = spec.ok ? await loadAudio(spec.value, this.#d.allowInsecureAudioUrls) : spec;
      if (!source.ok) {
        return failure('CONFIG', `the sandbox number's audio setting is unusable: ${source.reason}`);
      }
      const endpoint = new AudioEndpoint(this.#d.peers, { source: source.value });
      try {
        answerSdp = await endpoint.acceptOffer(sdpOffer);
      } catch (error) {
        await endpoint.close();
        return badRequest(`Invalid SDP: ${(error as Error).message}`);
      }
      session = this.#newSession(number, 'OUTBOUND', user, settings.audio, endpoint, settings.hangupAfterSeconds);
    } finally {
      release();
    }
    session.answerApplied = true;
    try {
      // Before the call is stored (from start's answer): no call may exist that no row says this process holds.
      await this.#d.users?.hold(number.id, session.externalCallId);
    } catch (error) {
      session.endedAt = this.#now();
      await this.#stopMedia(session);
      throw error;
    }
    const answer = this.#answerOverrides.get(`${number.id}:${user}`) ?? settings.answer;

    // As Meta: `connect` with the answer SDP (tunnel up, not answered), RINGING, then the user's choice.
    this.#after(session, this.#timing.connectDelayMs, async () => {
      await this.#emit(session, {
        type: 'answer-sdp',
        externalCallId: session.externalCallId,
        at: this.#now(),
        sdp: answerSdp,
      });
      await this.#emit(session, {
        type: 'progress',
        externalCallId: session.externalCallId,
        at: this.#now(),
        status: 'RINGING',
      });
      if (answer === 'ignore') {
        this.#after(session, this.#timing.ringGiveUpSeconds * 1000, () => this.#hangUp(session, 'no answer'));
        return;
      }
      this.#after(session, settings.answerAfterSeconds * 1000, async () => {
        if (answer === 'accept') {
          this.#answered(session);
          await this.#emit(session, {
            type: 'progress',
            externalCallId: session.externalCallId,
            at: this.#now(),
            status: 'ACCEPTED',
          });
        } else {
          await this.#emit(session, {
            type: 'progress',
            externalCallId: session.externalCallId,
            at: this.#now(),
            status: 'REJECTED',
          });
          await this.#hangUp(session, 'user declined');
        }
      });
    });
    return { ok: true, value: { externalCallId: session.externalCallId, providerData: SANDBOX_CALL } };
  }

  /** Meta's call_permissions answer for a simulated user. */
  permissions(number: NumberRecord, waId: string): Record<string, unknown> {
    const permission = permissionOf(number, digits(waId), this.#d.clock.now().getTime());
    return {
      messaging_product: 'whatsapp',
      permission: permission
        ? {
            status: permission.status,
            ...(permission.expirationTime !== null ? { expiration_time: permission.expirationTime } : {}),
          }
        : { status: 'no_permission' },
      actions: [
        { action_name: 'send_call_permission_request', can_perform_action: permission?.status !== 'permanent' },
        { action_name: 'start_call', can_perform_action: permission !== null },
      ],
    };
  }

  /** The user reads the request and replies (per the number's settings) a moment later, as a `messages` webhook. */
  requestPermission(number: NumberRecord, waId: string): ProviderResult<{ messageId: string }> {
    const user = digits(waId);
    if (permissionOf(number, user, this.#d.clock.now().getTime())?.status === 'permanent') {
      return failure('INVALID_REQUEST', 'Call permission request not allowed', 138_017);
    }
    const messageId = `wamid.SBX${randomBytes(12).toString('base64url')}`;
    const reply = sandboxSettingsOf(number).permissionReply;
    if (reply !== 'ignore') {
      const timer = setTimeout(() => {
        void this.#replyToPermission(number.id, user, reply === 'accept', messageId).catch((err) =>
          this.#d.logger.warn({ err, numberId: number.id }, 'sandbox permission reply failed'),
        );
      }, this.#timing.permissionReplySeconds * 1000);
      timer.unref();
    }
    return { ok: true, value: { messageId } };
  }

  /**
   * The call's simulated user was held by a process that is gone (docs/sandbox.md "A process that is gone"): its
   * phone vanished. Meta's terminate for that, applied here: a ringing call as the user hanging up before the answer
   * (MISSED, or FAILED outbound, by PEER), an answered one as Meta's media timeout (FAILED by SYSTEM, 138021).
   */
  async userGone(number: NumberRecord, call: Call): Promise<void> {
    const now = this.#now();
    const answered = call.status === 'ACCEPTED';
    const end: ProviderEnd = answered
      ? { startTime: call.connectedAt, endTime: now, duration: null, errorCode: PHONE_VANISHED_ERROR }
      : { startTime: null, endTime: null, duration: null, errorCode: null };
    this.#d.logger.info(
      { callId: call.id, externalCallId: call.externalCallId },
      'sandbox user gone with the process that held it: its call ends',
    );
    await this.#d.applyEvent(
      number,
      { type: 'end', externalCallId: call.externalCallId, at: now, end },
      call.direction,
      SANDBOX_CALL,
    );
  }

  /** Simulated users whose call is not over yet (each holds media this process keeps beating for). */
  get liveUsers(): number {
    let count = 0;
    for (const s of this.#sessions.values()) {
      if (!s.endedAt) {
        count++;
      }
    }
    return count;
  }

  /** What the simulated user of a call hears and does; null for a call this process does not simulate. */
  inspect(numberId: NumberId, externalCallId: string): SessionView | null {
    const s = this.#sessions.get(externalCallId);
    if (!s || s.numberId !== numberId) {
      return null;
    }
    const stats = s.final?.stats ?? s.endpoint.stats();
    return {
      externalCallId: s.externalCallId,
      direction: s.direction,
      user: `+${s.user}`,
      audio: s.audio.startsWith('data:') ? 'wav' : s.audio,
      media: s.final?.media ?? s.endpoint.state,
      answered: s.answeredAt !== null,
      ended: s.endedAt !== null,
      heard: s.final?.heard ?? s.endpoint.heard(),
      ...stats,
    };
  }

  /**
   * The simulated user presses keys: RFC 4733 telephone events, as a phone's keypad sends them. Null for a call this
   * process does not simulate; otherwise why not, or 'sent'.
   */
  pressKeys(
    numberId: NumberId,
    externalCallId: string,
    digits: string,
  ): 'sent' | 'not-connected' | 'no-dtmf' | 'busy' | null {
    const s = this.#sessions.get(externalCallId);
    if (!s || s.numberId !== numberId) {
      return null;
    }
    if (s.endedAt !== null || s.endpoint.state !== 'connected') {
      return 'not-connected';
    }
    if (!s.endpoint.dtmf) {
      return 'no-dtmf';
    }
    // Keys go out at 5 a second: requests faster than that would queue them without bound (memory, and keys still
    // sounding long after they were asked for).
    if (s.endpoint.digitsPending + digits.length > MAX_PENDING_KEYS) {
      return 'busy';
    }
    return s.endpoint.sendDigits(digits) ? 'sent' : 'no-dtmf';
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#orphanCheck) {
      clearInterval(this.#orphanCheck);
      this.#orphanCheck = null;
    }
    await Promise.all([...this.#sessions.values()].map((s) => this.#stopMedia(s)));
    this.#sessions.clear();
  }

  #newSession(
    number: NumberRecord,
    direction: Direction,
    user: string,
    audio: string,
    endpoint: AudioEndpoint,
    hangupAfterSeconds: number | null,
  ): Session {
    const session: Session = {
      externalCallId: `wacid.SBX${randomBytes(18).toString('base64url')}`,
      numberId: number.id,
      direction,
      user,
      audio,
      endpoint,
      answeredAt: null,
      endedAt: null,
      preAcceptSdp: null,
      answerApplied: false,
      hangupAfterSeconds,
      timers: new Set(),
      final: null,
    };
    this.#sessions.set(session.externalCallId, session);
    this.#watchForOrphans();
    // A media path that fails after the answer ends the call with Meta's "call setup failed".
    endpoint.onState((state) => {
      if (state === 'failed' && session.answeredAt && !session.endedAt) {
        void this.#end(session, '138019');
      }
    });
    return session;
  }

  /**
   * A place among the number's MAX_LIVE_CALLS_PER_NUMBER, taken before the first await of a new call (loading its
   * audio, answering its SDP): concurrent requests each see the ones still starting. The release is called once
   * the session exists (it then counts as live) or the start failed; null when the number is full.
   */
  #claimSlot(number: NumberRecord): (() => void) | null {
    const starting = this.#starting.get(number.id) ?? 0;
    if (this.#liveCalls(number) + starting >= MAX_LIVE_CALLS_PER_NUMBER) {
      return null;
    }
    this.#starting.set(number.id, starting + 1);
    let released = false;
    return () => {
      if (!released) {
        released = true;
        const left = (this.#starting.get(number.id) ?? 1) - 1;
        if (left > 0) {
          this.#starting.set(number.id, left);
        } else {
          this.#starting.delete(number.id);
        }
      }
    };
  }

  #liveCalls(number: NumberRecord): number {
    let count = 0;
    for (const s of this.#sessions.values()) {
      if (s.numberId === number.id && !s.endedAt) {
        count++;
      }
    }
    return count;
  }

  #liveWith(number: NumberRecord, user: string): boolean {
    for (const s of this.#sessions.values()) {
      if (s.numberId === number.id && s.user === user && !s.endedAt) {
        return true;
      }
    }
    return false;
  }

  #live(number: NumberRecord, call: Call): Session | null {
    const s = this.#sessions.get(call.externalCallId);
    return s && s.numberId === number.id && !s.endedAt ? s : null;
  }

  async #applyAnswer(session: Session, sdp: string): Promise<ProviderResult> {
    const problem = webRtcAudioProblem(sdp);
    if (problem) {
      return badRequest(`Invalid SDP: ${problem}`);
    }
    try {
      await session.endpoint.applyAnswer(sdp);
      session.answerApplied = true;
      return ok;
    } catch (error) {
      return badRequest(`Invalid SDP: ${(error as Error).message}`);
    }
  }

  #answered(session: Session): void {
    session.answeredAt = this.#now();
    if (session.hangupAfterSeconds !== null) {
      this.#after(session, session.hangupAfterSeconds * 1000, () => this.#hangUp(session, 'hang-up after'));
    }
  }

  /** The simulated user ends the call: media stops, then Meta's terminate webhook. */
  async #hangUp(session: Session, why: string): Promise<void> {
    if (session.endedAt) {
      return;
    }
    this.#d.logger.debug({ externalCallId: session.externalCallId, why }, 'sandbox user hangs up');
    await this.#stopMedia(session);
    await this.#end(session, null);
  }

  async #end(session: Session, errorCode: string | null): Promise<void> {
    if (session.endedAt) {
      return;
    }
    session.endedAt = this.#now();
    await this.#stopMedia(session);
    const end: ProviderEnd = {
      startTime: session.answeredAt,
      endTime: session.answeredAt ? session.endedAt : null,
      duration: session.answeredAt
        ? Math.max(0, Math.round((Date.parse(session.endedAt) - Date.parse(session.answeredAt)) / 1000))
        : null,
      errorCode,
    };
    await this.#tellEnd(session, { type: 'end', externalCallId: session.externalCallId, at: session.endedAt, end });
    const forget = setTimeout(() => this.#sessions.delete(session.externalCallId), KEEP_ENDED_MS);
    forget.unref();
  }

  /**
   * Tells the user's end until the store takes it. Another process ends the call only once this one stops beating
   * for the user (docs/sandbox.md), which a busy process never does: without the retries a store that refused the
   * end once would leave the call answered, with no media, for as long as this process runs.
   */
  async #tellEnd(session: Session, event: ProviderCallEvent, retryMs = this.#timing.endRetryMs): Promise<void> {
    if (await this.#emit(session, event)) {
      await this.#release(session);
      return;
    }
    if (this.#closed) {
      return; // the record stays: the other processes, or the next run, end the call
    }
    const retry = setTimeout(() => {
      void this.#tellEnd(session, event, Math.min(retryMs * 2, MAX_END_RETRY_MS));
    }, retryMs);
    retry.unref();
  }

  #watchForOrphans(): void {
    if (this.#orphanCheck || this.#closed) {
      return;
    }
    this.#orphanCheck = setInterval(() => {
      this.#endOrphans().catch((err) => this.#d.logger.warn({ err }, 'sandbox could not check its users’ numbers'));
    }, this.#timing.orphanCheckMs);
    this.#orphanCheck.unref();
  }

  /**
   * Deleting a number ends nothing at the provider; a simulated user would keep its sockets, codec and frame clock
   * (an answered call without hangupAfterSeconds, forever). Its media stops; there is no number left to tell.
   */
  async #endOrphans(): Promise<void> {
    const live = [...this.#sessions.values()].filter((s) => !s.endedAt);
    if (live.length === 0 && this.#orphanCheck) {
      clearInterval(this.#orphanCheck);
      this.#orphanCheck = null;
      return;
    }
    for (const numberId of new Set(live.map((s) => s.numberId))) {
      if (await this.#d.loadNumber(numberId)) {
        continue;
      }
      for (const session of live.filter((s) => s.numberId === numberId && !s.endedAt)) {
        this.#d.logger.info({ externalCallId: session.externalCallId }, 'sandbox user hangs up: its number is gone');
        session.endedAt = this.#now();
        await this.#stopMedia(session);
        await this.#release(session);
        const forget = setTimeout(() => this.#sessions.delete(session.externalCallId), KEEP_ENDED_MS);
        forget.unref();
      }
    }
  }

  async #stopMedia(session: Session): Promise<void> {
    for (const timer of session.timers) {
      clearTimeout(timer);
    }
    session.timers.clear();
    if (!session.final) {
      session.final = {
        heard: session.endpoint.heard(),
        stats: session.endpoint.stats(),
        // Stopped, the media is closed whether or not it had connected; a failure stays one.
        media: session.endpoint.state === 'failed' ? 'failed' : 'closed',
      };
      await session.endpoint.close();
    }
  }

  /** False when the event could not be applied, or was not sent because this process is closing. */
  async #emit(session: Session, event: ProviderCallEvent): Promise<boolean> {
    if (this.#closed) {
      return false;
    }
    try {
      // Read inside: a store that is away refuses this read too, and an end is then told again (#tellEnd).
      const number = await this.#d.loadNumber(session.numberId);
      if (!number) {
        return true;
      }
      await this.#d.applyEvent(number, event, session.direction, SANDBOX_CALL);
      return true;
    } catch (err) {
      this.#d.logger.error({ err, externalCallId: session.externalCallId, type: event.type }, 'sandbox event failed');
      return false;
    }
  }

  /**
   * The user is over: no process has to end its call any more. Kept when its end could not be told (the store
   * refused it): then the other processes, or the next run, end the call once this one stops beating for it.
   */
  async #release(session: Session): Promise<void> {
    await this.#d.users
      ?.release(session.numberId, session.externalCallId)
      .catch((err) =>
        this.#d.logger.warn({ err, externalCallId: session.externalCallId }, 'sandbox user record not removed'),
      );
  }

  async #replyToPermission(numberId: NumberId, user: string, accepted: boolean, requestId: string): Promise<void> {
    const number = await this.#d.loadNumber(numberId);
    if (!number || this.#closed) {
      return;
    }
    const nowMs = this.#d.clock.now().getTime();
    const expirationTime = Math.floor(nowMs / 1000) + TEMPORARY_PERMISSION_SECONDS;
    await this.#d.mergeNumberConfig(
      numberId,
      permissionsPatch(number, user, accepted ? { status: 'temporary', expirationTime } : null),
    );
    await this.#d.recordPermissionReply(number, {
      peerNumber: user,
      peerUserId: null,
      status: accepted ? 'TEMPORARY' : 'NO_PERMISSION',
      expiresAt: accepted ? new Date(expirationTime * 1000).toISOString() : null,
      messageId: `${requestId}.reply`,
      at: new Date(nowMs).toISOString(),
    });
  }

  #after(session: Session, ms: number, run: () => void | Promise<void>): void {
    const timer = setTimeout(() => {
      session.timers.delete(timer);
      Promise.resolve(run()).catch((err) =>
        this.#d.logger.error({ err, externalCallId: session.externalCallId }, 'sandbox step failed'),
      );
    }, ms);
    timer.unref();
    session.timers.add(timer);
  }

  #now(): string {
    return this.#d.clock.now().toISOString();
  }
}

const digits = (phone: string) => phone.replace(/\D/g, '');

/** Line endings and a trailing newline must not make two copies of one SDP differ. */
const normaliseSdp = (sdp: string) => sdp.replace(/\r\n/g, '\n').trim();
