// How often the event loop got a turn while some work ran: work that hogs the thread (the calls' frame clocks run
// on it too) lets it turn a few times at most.

/** `work`'s result, and how many turns of the event loop (setImmediate callbacks) ran before it settled. */
export async function turnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let counting = true;
  const turn = () => {
    turns++;
    if (counting) {
      setImmediate(turn);
    }
  };
  setImmediate(turn);
  try {
    return { result: await work(), turns };
  } finally {
    counting = false;
  }
}
