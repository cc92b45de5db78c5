// Polls until a reading is what the test waits for, or the time is up; returns the last reading either way, so the
// assertion that follows shows what was actually seen.
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitFor<T>(read: () => T, ok: (value: T) => boolean, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = read();
  while (!ok(value) && Date.now() < deadline) {
    await sleep(40);
    value = read();
  }
  return value;
}
