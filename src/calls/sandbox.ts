// Sandbox numbers' own verbs: a simulated user calls in, and what that user heard can be read back.
import { randomInt } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { NumberId } from '../ids.ts';
import { type Call, isTerminal } from '../model/call.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { AnswerMode } from '../providers/sandbox/settings.ts';
import { MAX_PENDING_KEYS, type SandboxSimulator, type SessionView } from '../providers/sandbox/simulator.ts';
import { findCallForNumber } from '../store/calls.ts';
import type { Db } from '../store/db.ts';
import { getNumberById } from '../store/numbers.ts';
import { conflict } from './conflict.ts';
import { featureNotSupported, providerError } from './provider-errors.ts';

export interface SimulatedCallInput {
  from?: string;
  audio?: string;
  hangupAfterSeconds?: number;
  answer?: AnswerMode;
}

export class SandboxCalls {
  readonly #db: Db;
  readonly #simulator: SandboxSimulator;
  /** Other numbers' adapters: they say why a sandbox verb is not theirs. */
  readonly #providers: ProviderRegistry;

  constructor(deps: { db: Db; simulator: SandboxSimulator; providers: ProviderRegistry }) {
    this.#db = deps.db;
    this.#simulator = deps.simulator;
    this.#providers = deps.providers;
  }

  /** Rings the number from a simulated user; answers the stored (RINGING) call. */
  async startInbound(numberId: NumberId, input: SimulatedCallInput): Promise<Call> {
    const number = await getNumberById(this.#db, numberId);
    if (!number) {
      throw new ApiError('UNAUTHORIZED');
    }
    if (number.provider !== 'SANDBOX') {
      throw featureNotSupported(this.#providers(number), 'simulated calls ring SANDBOX numbers only');
    }
    const digits = (phone: string) => phone.replace(/\D/g, '');
    if (input.from !== undefined && digits(input.from) === digits(number.phoneNumber)) {
      throw new ApiError('VALIDATION_ERROR', {
        details: { field: 'from', reason: 'the simulated user needs a number other than the sandbox number itself' },
      });
    }
    const started = await this.#simulator.startInbound(number, {
      from: input.from ?? `+99${String(randomInt(0, 1e10)).padStart(10, '0')}`,
      audio: input.audio ?? 'tone:440',
      hangupAfterSeconds: input.hangupAfterSeconds ?? null,
      answer: input.answer ?? null,
    });
    if (!started.ok && started.category === 'RATE_LIMITED') {
      throw providerError(started, 'other');
    }
    if (!started.ok) {
      // The request's own refusals are all about its audio (unreadable, or not fetched): named, as `from` is.
      // Calling disabled in the number's settings is not the request's field.
      const field = started.category === 'INVALID_REQUEST' ? { field: 'audio' } : {};
      throw new ApiError('VALIDATION_ERROR', { details: { ...field, reason: started.providerMessage } });
    }
    const call = await findCallForNumber(this.#db, numberId, started.value.externalCallId);
    if (!call) {
      throw new ApiError('CALL_NOT_FOUND');
    }
    return call;
  }

  /**
   * A simulated user held by a process that is gone (the media node's look found it): its call, if still live, ends
   * as the user's phone vanishing would. Nothing to do when the call ended meanwhile or was never stored.
   */
  async endLostUser(user: { numberId: NumberId; externalCallId: string }): Promise<void> {
    const number = await getNumberById(this.#db, user.numberId);
    const call = number ? await findCallForNumber(this.#db, number.id, user.externalCallId) : null;
    if (!number || !call || isTerminal(call.status)) {
      return;
    }
    await this.#simulator.userGone(number, call);
  }

  /** The simulated user of one of this number's calls presses keys (while this process simulates it). */
  async pressKeys(numberId: NumberId, idOrExternal: string, digits: string): Promise<Call> {
    const call = await findCallForNumber(this.#db, numberId, idOrExternal);
    const sent = call ? this.#simulator.pressKeys(numberId, call.externalCallId, digits) : null;
    if (!call || !sent) {
      throw new ApiError('CALL_NOT_FOUND');
    }
    if (sent === 'not-connected') {
      throw conflict(call, 'The simulated user has no media connected to send keys on');
    }
    if (sent === 'busy') {
      throw conflict(
        call,
        `The simulated user still has keys to send (up to ${MAX_PENDING_KEYS} wait; they go out at 5 a second)`,
      );
    }
    if (sent === 'no-dtmf') {
      throw conflict(call, 'The call’s SDP answer did not take telephone-event: the user cannot send keys on it');
    }
    return call;
  }

  /** The simulated user of one of this number's calls, while this process simulates it. */
  async inspect(numberId: NumberId, idOrExternal: string): Promise<SessionView> {
    const call = await findCallForNumber(this.#db, numberId, idOrExternal);
    const view = call ? this.#simulator.inspect(numberId, call.externalCallId) : null;
    if (!call || !view) {
      throw new ApiError('CALL_NOT_FOUND');
    }
    return view;
  }
}
