// Keypad digits carried as RTP telephone events (RFC 4733): what WhatsApp and browsers send when the caller presses
// a key during a call (Meta offers `telephone-event/8000`). A digit is one event: several packets with the same RTP
// timestamp (its start), a growing duration, and an end flag on the last ones, which are sent up to three times.

/** The events a keypad sends, by event code (RFC 4733 §3.2): 0–9, *, #, A–D. Others (flash…) are not digits. */
const DIGITS = '0123456789*#ABCD';

export type DtmfDigit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#' | 'A' | 'B' | 'C' | 'D';

export const DTMF_DIGITS_PATTERN = /^[0-9*#A-D]+$/;

export interface TelephoneEvent {
  digit: DtmfDigit;
  end: boolean;
  /** In units of the telephone-event clock, from the event's start. */
  duration: number;
}

/** One telephone-event payload (4 bytes; a longer one carries redundant events, of which the first is read). */
export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | null {
  if (payload.length < 4) {
    return null;
  }
  const code = payload[0] ?? 255;
  const digit = DIGITS[code];
  if (digit === undefined) {
    return null;
  }
  return {
    digit: digit as DtmfDigit,
    end: ((payload[1] ?? 0) & 0x80) !== 0,
    duration: ((payload[2] ?? 0) << 8) | (payload[3] ?? 0),
  };
}

/** Volume sent with every event: -10 dBm0, as phones send keypad tones. */
const VOLUME = 10;

export function serializeTelephoneEvent(digit: DtmfDigit, end: boolean, duration: number): Buffer {
  const out = Buffer.alloc(4);
  out[0] = DIGITS.indexOf(digit);
  out[1] = (end ? 0x80 : 0) | VOLUME;
  out.writeUInt16BE(Math.min(duration, 0xffff), 2);
  return out;
}

/**
 * Turns a stream of telephone-event packets into digits, each told once: the first packet of an event (a later RTP
 * timestamp) is the digit, whether or not its start was lost; the rest of it (longer durations, repeated ends), a
 * late packet of an earlier event (its repeated end overtaken by the next key) and packets that are not digits are not.
 */
export class DtmfDetector {
  #lastTimestamp: number | null = null;

  /** The digit this packet starts, or null. */
  push(payload: Uint8Array, timestamp: number): DtmfDigit | null {
    const event = parseTelephoneEvent(payload);
    // RTP timestamps wrap at 2^32: the difference, as a signed 32-bit number, says which came first.
    if (!event || (this.#lastTimestamp !== null && ((timestamp - this.#lastTimestamp) | 0) <= 0)) {
      return null;
    }
    this.#lastTimestamp = timestamp;
    return event.digit;
  }
}

/** How a digit is sent: as long as a person presses a key, then a pause before the next one. */
export const DTMF_TONE_FRAMES = 5; // 100 ms
export const DTMF_GAP_FRAMES = 3; // 60 ms
/** The end packet is sent three times (RFC 4733 §2.5.1.4), one per frame, so one lost packet does not lose it. */
export const DTMF_END_REPEATS = 3;

export interface DtmfPacket {
  digit: DtmfDigit;
  /** The event's first packet (the RTP marker bit). */
  first: boolean;
  end: boolean;
  /** Frames since the event's start: every packet carries the first frame's timestamp. */
  framesIn: number;
  /** The frames the tone has lasted so far (it stops growing at the end: repeats carry the same). */
  toneFrames: number;
}

/**
 * What a sender puts in each 20 ms frame while digits are queued: telephone-event packets for each digit's tone and
 * its repeated end, then audio again for the gap. null means the frame is audio.
 */
export interface DtmfTiming {
  toneFrames: number;
  endRepeats: number;
  gapFrames: number;
}

const PERSON: DtmfTiming = { toneFrames: DTMF_TONE_FRAMES, endRepeats: DTMF_END_REPEATS, gapFrames: DTMF_GAP_FRAMES };

export class DtmfSender {
  #queue: { digit: DtmfDigit; timing: DtmfTiming }[] = [];
  /** Frames into the current digit (tone, ends, gap), or -1 when none is being sent. */
  #at = -1;

  /** Queues keys; `timing` other than a person's is for tests (a peer flooding keys). */
  enqueue(digits: string, timing: DtmfTiming = PERSON): void {
    for (const d of digits) {
      this.#queue.push({ digit: d as DtmfDigit, timing });
    }
  }

  get pending(): number {
    return this.#queue.length;
  }

  /** Called once per frame sent. */
  next(): DtmfPacket | null {
    const head = this.#queue[0];
    if (head === undefined) {
      return null;
    }
    const { digit, timing } = head;
    const at = ++this.#at;
    const packets = timing.toneFrames + timing.endRepeats - 1; // frames that carry the event
    if (at + 1 >= packets + timing.gapFrames) {
      this.#queue.shift(); // this is the key's last frame
      this.#at = -1;
    }
    if (at >= packets) {
      return null; // the gap: audio
    }
    return {
      digit,
      first: at === 0,
      end: at >= timing.toneFrames - 1,
      framesIn: at,
      // The duration stops growing at the end: its repeats carry the same.
      toneFrames: Math.min(at, timing.toneFrames - 1) + 1,
    };
  }
}
