// Keys a caller presses on a server-media call become `call.dtmf` events: an IVR built on `play` hears its menu
// choices by webhook, as Twilio's <Gather> posts them. Realtime clients get them on their socket as well.
import type { Clock } from '../clock.ts';
import type { CallId, NumberId } from '../ids.ts';
import type { DtmfDigit } from '../media/rtc/index.ts';
import { findCallForNumber } from '../store/calls.ts';
import type { Db } from '../store/db.ts';
import { persistCallSideEvent } from './outbox.ts';

/** How many of the call's last keys each event repeats in `digits`. */
export const DIGITS_KEPT = 64;

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

  constructor(deps: { db: Db; clock: Clock }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
  }

  /** Queues the key's event; nothing when the call is not (or no longer) stored. */
  async pressed(k: KeyPressed): Promise<void> {
    await this.#db.transaction(async (tx) => {
      const call = await findCallForNumber(tx, k.numberId, k.callId);
      if (!call) {
        return;
      }
      const now = this.#clock.now().toISOString();
      await persistCallSideEvent(tx, call, 'call.dtmf', { digit: k.digit, digits: k.digits, count: k.count }, now);
    });
  }
}
