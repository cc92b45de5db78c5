// Keys a caller presses on a server-media call become `call.dtmf` events: an IVR built on `play` hears its menu
// choices by webhook, as Twilio's <Gather> posts them. Realtime clients get them on their socket as well.
import type { Clock } from '../clock.ts';
import type { CallId, NumberId } from '../ids.ts';
import type { DtmfDigit } from '../media/rtc/index.ts';
import { isTerminal } from '../model/call.ts';
import { findCallForNumber, lockCallRow } from '../store/calls.ts';
import type { Db } from '../store/db.ts';
import { persistCallSideEvent } from './outbox.ts';

/** How many of the call's last keys each event repeats in `digits`. */
export const DIGITS_KEPT = 64;

/**
 * How many call.dtmf events a call may queue: a burst of KEY_BURST, then KEYS_PER_SECOND. A person presses a few keys
 * a second at most; a peer sending a new telephone event in every packet (50 a second) would otherwise make a
 * database write and a webhook delivery of each. Keys past it still reach realtime sockets and barge-in.
 */
export const KEY_BURST = 20;
export const KEYS_PER_SECOND = 10;

/** One call's allowance of call.dtmf events (a token bucket on `now`, in ms). */
export class KeyBudget {
  readonly #now: () => number;
  #tokens = KEY_BURST;
  #at: number;

  constructor(now: () => number) {
    this.#now = now;
    this.#at = now();
  }

  /** Whether one more event may be queued now. */
  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(KEY_BURST, this.#tokens + ((now - this.#at) / 1000) * KEYS_PER_SECOND);
    this.#at = now;
    if (this.#tokens < 1) {
      return false;
    }
    this.#tokens -= 1;
    return true;
  }
}

export interface KeyPressed {
  callId: CallId;
  numberId: NumberId;
  digit: DtmfDigit;
  /** The call's keys so far, the last DIGITS_KEPT of them, this one last. */
  digits: string;
  /** How many keys the call has had, this one included: deliveries may arrive out of order, this orders them. */
  count: number;
}

export class Keypad {
  readonly #db: Db;
  readonly #clock: Clock;
  /** Per call, the write of its last key, which the next one waits for. */
  readonly #writing = new Map<CallId, Promise<void>>();

  constructor(deps: { db: Db; clock: Clock }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
  }

  /**
   * Queues the key's event; nothing when the call is not stored or has ended: its media runs on for a moment after
   * the end (until the engine closes it), and nothing may follow a call's call.ended. A call's keys are written one
   * after the other, in the order pressed: concurrent transactions (PostgreSQL's pool) could commit a later key
   * first, and the events stream and the outbox list events in the order they were written.
   */
  pressed(k: KeyPressed): Promise<void> {
    const previous = this.#writing.get(k.callId) ?? Promise.resolve();
    const written = previous.catch(() => undefined).then(() => this.#write(k));
    this.#writing.set(k.callId, written);
    const forget = () => {
      if (this.#writing.get(k.callId) === written) {
        this.#writing.delete(k.callId);
      }
    };
    written.then(forget, forget);
    return written;
  }

  async #write(k: KeyPressed): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await lockCallRow(tx, k.callId);
      const call = await findCallForNumber(tx, k.numberId, k.callId);
      if (!call || isTerminal(call.status)) {
        return;
      }
      const now = this.#clock.now().toISOString();
      await persistCallSideEvent(tx, call, 'call.dtmf', { digit: k.digit, digits: k.digits, count: k.count }, now);
    });
  }
}
