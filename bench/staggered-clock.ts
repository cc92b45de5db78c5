// One timer for all the bench's callers (or clients), each sending a frame every 20 ms at one of four offsets 5 ms
// apart, against the monotonic clock: late ticks are caught up and nothing drifts. Independent callers' packets
// reach a server spread over the 20 ms; one shared instant for all would hand it every caller's frame in one burst.
import { FRAME_MS } from '../src/media/audio/pcm.ts';

const PHASES = 4;
const SLOT_MS = FRAME_MS / PHASES;

/** Calls `send(member, frame)` for every member of `members()` once per frame, at the member's own offset. */
export function startStaggeredClock<T extends object>(
  members: () => Iterable<T>,
  send: (member: T, frame: number) => void,
): void {
  const origin = performance.now();
  const phaseOf = new WeakMap<T, number>();
  let slot = 0;
  let joined = 0;
  const tick = () => {
    const due = Math.floor((performance.now() - origin) / SLOT_MS);
    while (slot <= due) {
      for (const member of members()) {
        let phase = phaseOf.get(member);
        if (phase === undefined) {
          phase = joined++ % PHASES;
          phaseOf.set(member, phase);
        }
        if (slot % PHASES === phase) {
          send(member, Math.floor(slot / PHASES));
        }
      }
      slot += 1;
    }
    setTimeout(tick, Math.max(0, origin + slot * SLOT_MS - performance.now()));
  };
  tick();
}
