// Calls whose media callgate holds itself (media: "server"): the domain side of the media engine. Answering
// checks capacity before any provider request, so a full or disabled engine never leaves a half-answered call;
// play and realtime sessions go to the call's live session; a failed session ends the call through
// CallService.endForMedia.

import { ApiError } from '../errors.ts';
import type { NumberId } from '../ids.ts';
import { MediaDecodeError } from '../media/engine/decoded-audio.ts';
import { type AnswerOutcome, type CapacityProblem, type MediaEngine, MediaGoneError } from '../media/engine/engine.ts';
import type { EngineSession, PlayOptions } from '../media/engine/engine-session.ts';
import { MediaFetchError } from '../media/engine/fetch-media.ts';
import type { MediaCommand, MediaReply } from '../media/engine/media-commands.ts';
import { PlayQueueFullError } from '../media/engine/play-budget.ts';
import { realtimeWsUrl } from '../media/engine/realtime-hub.ts';
import { type Call, isTerminal } from '../model/call.ts';
import { speaksMetaModel } from '../model/number.ts';
import { type CallMedia, findCallMediaForNumber, listCallMediaForNumber } from '../store/call-media.ts';
import { findCallForNumber } from '../store/calls.ts';
import type { Db } from '../store/db.ts';
import { getNumberById } from '../store/numbers.ts';
import type { ActionSlots } from './action-slots.ts';
import { conflict } from './conflict.ts';
import { sandboxMark } from './public-call.ts';

export interface ServerMediaDeps {
  db: Db;
  slots: ActionSlots;
  media: MediaEngine | null;
}

export interface ServedCall {
  call: Call;
  session: EngineSession;
  engine: MediaEngine;
}

export class ServerMedia {
  readonly #d: ServerMediaDeps;

  constructor(deps: ServerMediaDeps) {
    this.#d = deps;
  }

  /** Before anything is claimed or sent: 503 MEDIA_CAPACITY when the engine is off, full or overloaded. */
  assertCanAnswer(call: Call): void {
    const engine = this.#d.media;
    const problem = engine ? engine.capacityProblem() : 'off';
    if (problem) {
      engine?.refused(problem);
      throw mediaCapacityError(problem);
    }
    if (!call.sdpOffer) {
      throw new ApiError('VALIDATION_ERROR', { details: { reason: 'the call has no SDP offer to answer' } });
    }
  }

  /** The engine's SDP answer for the claimed call; on refusal the action slot is released with the error. */
  async answer(call: Call, actionId: string, type: 'accept' | 'pre-accept', record: boolean): Promise<string> {
    const engine = this.#d.media;
    let outcome: AnswerOutcome;
    try {
      outcome = engine
        ? await engine.answer(call.id, call.numberId, call.sdpOffer ?? '', record)
        : { ok: false, reason: 'capacity' };
    } catch {
      // The store did not take the media row: nothing was sent, the call keeps ringing, a retry is safe.
      const error = new ApiError('SERVICE_UNAVAILABLE');
      throw await this.#d.slots.release(call, actionId, error, { source: 'api', type, detail: { error: error.code } });
    }
    if (outcome.ok) {
      return outcome.sdp;
    }
    if (outcome.reason === 'ended') {
      const error = await this.#endedConflict(call);
      throw await this.#d.slots.release(call, actionId, error, { source: 'api', type, detail: { error: error.code } });
    }
    const error =
      outcome.reason === 'capacity'
        ? mediaCapacityError(engine?.capacityProblem() ?? null)
        : new ApiError('VALIDATION_ERROR', { details: { reason: "the call's SDP offer cannot be answered" } });
    throw await this.#d.slots.release(call, actionId, error, { source: 'api', type, detail: { error: error.code } });
  }

  /** `media`, `mediaNode` and `recording` for the public call, when callgate holds (or held) its media. */
  async describe(call: Call) {
    const row = await findCallMediaForNumber(this.#d.db, call.numberId, call.id);
    if (row) {
      return publicMedia(row);
    }
    return relayMedia(call) && (await this.#speaksMetaModel(call.numberId)) ? { media: 'relay' as const } : {};
  }

  /** A call whose media ended under a command: 409 with the status it has now, not the one read before. */
  async #endedConflict(call: Call): Promise<ApiError> {
    return conflict((await findCallForNumber(this.#d.db, call.numberId, call.id)) ?? call);
  }

  /** Only META and SANDBOX numbers carry the business's SDP to WhatsApp (a web number's provider ignores one). */
  async #speaksMetaModel(numberId: NumberId): Promise<boolean> {
    const number = await getNumberById(this.#d.db, numberId);
    return number !== null && speaksMetaModel(number.provider);
  }

  /**
   * A server-media call found neither here nor in a live process has ended (or is ending): its play, stop-play and
   * realtime-session are 409 CALL_STATE_CONFLICT, as on a web number, not the provider's FEATURE_NOT_SUPPORTED.
   */
  async assertNotEndedServerMedia(call: Call): Promise<void> {
    if (await findCallMediaForNumber(this.#d.db, call.numberId, call.id)) {
      throw new ApiError('CALL_STATE_CONFLICT', { details: { status: call.status } });
    }
  }

  /**
   * An accept after a server-media pre-accept reuses that answer and its session: the recording was decided then.
   * A `record` saying otherwise is refused rather than ignored.
   */
  async assertSameRecording(call: Call, record: boolean | undefined): Promise<void> {
    if (record === undefined) {
      return;
    }
    const row = await findCallMediaForNumber(this.#d.db, call.numberId, call.id);
    if (!row && record) {
      throw new ApiError('VALIDATION_ERROR', {
        details: {
          field: 'record',
          reason: 'the pre-accept sent your own SDP: callgate does not hold this call’s media and cannot record it',
        },
      });
    }
    if (row && (row.recording !== null) !== record) {
      throw new ApiError('VALIDATION_ERROR', {
        details: {
          reason: `the pre-accept decided the recording (record: ${!record}); send the accept without record or with the same value`,
        },
      });
    }
  }

  /** The same for a page of calls, in one query: by call id, only the server-media ones. */
  async describeMany(numberId: NumberId, calls: Call[]) {
    const rows = await listCallMediaForNumber(
      this.#d.db,
      numberId,
      calls.map((c) => c.id),
    );
    const served = new Map<string, ReturnType<typeof publicMedia> | { media: 'relay' }>(
      rows.map((row) => [row.callId as string, publicMedia(row)]),
    );
    const relayed = calls.filter((call) => !served.has(call.id) && relayMedia(call));
    if (relayed.length > 0 && (await this.#speaksMetaModel(numberId))) {
      for (const call of relayed) {
        served.set(call.id, { media: 'relay' });
      }
    }
    return served;
  }

  /**
   * The provider did not take the answer: the session ends. A clear refusal also removes the media row (a retry may
   * answer again); when the provider may have acted after all, the row stays, so that if the call is live at
   * WhatsApp and this process dies, the others still end it.
   */
  async drop(call: Call, providerMayHaveActed: boolean): Promise<void> {
    if (providerMayHaveActed) {
      await this.#d.media?.end(call.id, 'call_ended');
    } else {
      await this.#d.media?.withdraw(call.id);
    }
  }

  /** The call, when its media is held by this process. */
  async find(numberId: NumberId, idOrExternal: string): Promise<ServedCall | null> {
    const engine = this.#d.media;
    if (!engine || engine.size === 0) {
      return null;
    }
    const call = await findCallForNumber(this.#d.db, numberId, idOrExternal);
    // An ended call is over for its media too, even in the moment before the engine's status watch closes it.
    if (!call || isTerminal(call.status)) {
      return null;
    }
    const session = engine.session(call.id);
    return session && !session.ended ? { call, session, engine } : null;
  }

  /** The call, when another live process holds its media (several API processes on PostgreSQL). */
  async findRemote(numberId: NumberId, idOrExternal: string): Promise<{ call: Call; node: string } | null> {
    const engine = this.#d.media;
    if (!engine) {
      return null;
    }
    const call = await findCallForNumber(this.#d.db, numberId, idOrExternal);
    if (!call || isTerminal(call.status)) {
      return null;
    }
    const row = await findCallMediaForNumber(this.#d.db, numberId, call.id);
    return row?.mediaNode && row.mediaNode !== engine.node ? { call, node: row.mediaNode } : null;
  }

  /** Runs a command in the process holding the call's media; its refusal becomes ours. */
  async forward(remote: { call: Call; node: string }, command: MediaCommand) {
    const engine = this.#d.media;
    const reply: MediaReply = engine
      ? await engine.sendTo(remote.node, command)
      : { ok: false, code: 'SERVICE_UNAVAILABLE' };
    if (!reply.ok) {
      if (reply.code === 'CALL_STATE_CONFLICT') {
        // The owner may have worked on it for seconds (a play's download): the status read before is stale.
        throw await this.#endedConflict(remote.call);
      }
      throw new ApiError(reply.code, {
        ...(reply.reason ? { details: { reason: reply.reason } } : {}),
        // A full play queue says when it has room again, as it does to a play sent to the owner itself.
        ...(reply.retryAfterSeconds !== undefined ? { headers: retryAfter(reply.retryAfterSeconds) } : {}),
      });
    }
    const result = { id: remote.call.id, status: remote.call.status, ...sandboxMark(remote.call) };
    return { result, realtime: reply.realtime };
  }

  async play({ call, engine }: ServedCall, mediaUrl: string, options: PlayOptions = {}) {
    try {
      await engine.play(call.id, mediaUrl, options);
    } catch (err) {
      if (err instanceof MediaFetchError || err instanceof MediaDecodeError) {
        throw new ApiError('VALIDATION_ERROR', { details: { reason: err.message } });
      }
      if (err instanceof PlayQueueFullError) {
        throw new ApiError('RATE_LIMITED', {
          details: { reason: err.message },
          headers: retryAfter(err.retryAfterSeconds),
        });
      }
      if (err instanceof MediaGoneError) {
        // It may have ended while the file loaded.
        throw await this.#endedConflict(call);
      }
      throw err;
    }
    return { id: call.id, status: call.status, ...sandboxMark(call) };
  }

  stopPlay({ call, engine }: ServedCall) {
    engine.stopPlay(call.id);
    return { id: call.id, status: call.status, ...sandboxMark(call) };
  }

  realtimeSession({ call, engine }: ServedCall, mode: 'talk' | 'listen', wsBaseUrl: string) {
    const issued = engine.realtime.issue(call.numberId, call.id, mode);
    if (!issued) {
      throw new ApiError('CALL_STATE_CONFLICT', { details: { status: call.status } });
    }
    return {
      wsUrl: realtimeWsUrl(wsBaseUrl, issued.token),
      token: issued.token,
      expiresInSeconds: issued.expiresInSeconds,
    };
  }
}

/**
 * Whether the business side made the call's SDP (accept/pre-accept with an `sdp`, or POST /v1/calls with one): on a
 * META or SANDBOX number its media then runs between the business's own WebRTC and WhatsApp (`media: "relay"`).
 */
function relayMedia(call: Call): boolean {
  // Lists read '' for an SDP that is there but not loaded.
  const businessSdp = call.direction === 'INBOUND' ? call.sdpAnswer : call.sdpOffer;
  return businessSdp !== null && businessSdp !== undefined;
}

function publicMedia(row: CallMedia) {
  const { recording } = row;
  return {
    media: row.media,
    ...(row.mediaNode ? { mediaNode: row.mediaNode } : {}),
    ...(recording
      ? {
          recording: {
            status: recording.status,
            durationSeconds: recording.durationSeconds === null ? null : Math.round(recording.durationSeconds),
            sizeBytes: recording.sizeBytes,
          },
        }
      : {}),
  };
}

const CAPACITY_REASONS: Record<CapacityProblem, string> = {
  off: 'the media engine is off on this process (MEDIA_ENGINE)',
  full: 'every media session of this process is in use (MEDIA_MAX_SESSIONS)',
  overloaded:
    "this process is sending its calls' audio late; new calls wait until it keeps time (MEDIA_MAX_LATE_PERCENT)",
};

/** 503 MEDIA_CAPACITY, saying which limit was met (when one was: a session the engine could not set up is not). */
export function mediaCapacityError(problem: CapacityProblem | null): ApiError {
  return problem
    ? new ApiError('MEDIA_CAPACITY', { details: { reason: CAPACITY_REASONS[problem] } })
    : new ApiError('MEDIA_CAPACITY');
}

function retryAfter(seconds: number): Record<string, string> {
  return { 'retry-after': String(Math.max(1, seconds)) };
}
