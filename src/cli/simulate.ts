// `callgate simulate call`: a simulated WhatsApp user calls a sandbox number (number key), then the command
// follows the call until it ends, so a first run shows ringing → connected → ended in the terminal.
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Callgate, CallgateError } from '../../packages/sdk/src/index.ts';
import { MAX_AUDIO_CHARS } from '../providers/sandbox/settings.ts';
import { callIdOf, eventLine } from './calls.ts';
import { type Output, reconnectedNote } from './output.ts';
import {
  type Env,
  fromShell,
  HelpRequested,
  parseRemote,
  REMOTE_USAGE,
  subcommand,
  UsageError,
  untilSignal,
  wantsHelp,
} from './remote.ts';

export const SIMULATE_USAGE = `usage: callgate simulate call [options]   (a SANDBOX number's key)
  --from <+E164>           the caller (default: a new +99… user)
  --audio <what>           tone:440 (default), echo, silence, speech-sample, file.wav or an https URL of a WAV
  --hangup-after <s>       the caller hangs up this many seconds after the answer
  --answer accept|reject|ignore   how this user answers when the business calls it back
  --press <keys>           the caller presses these keys once the call is answered (0-9 * # A-D; a comma waits 1 s)
  --keypad                 the caller presses what you type: keys, then Enter, while the call is answered
  --no-wait                print the call and return instead of following it
${REMOTE_USAGE}`;

export const SIMULATE_COMMANDS = ['call'] as const;

export const SIMULATE_OPTIONS = {
  from: { type: 'string' },
  audio: { type: 'string' },
  'hangup-after': { type: 'string' },
  answer: { type: 'string' },
  press: { type: 'string' },
  keypad: { type: 'boolean' },
  'no-wait': { type: 'boolean' },
} as const;

const KEYS = /^[0-9*#A-D]+$/;
// The API takes this many keys a request.
const KEYS_PER_REQUEST = 32;
// After call.connected the user's media may still be connecting (409 until it is), or earlier keys still queued.
const PRESS_RETRY_MS = 5000;

const WAV_DATA_URL = 'data:audio/wav;base64,';
/** A local WAV travels inside the request as a data: URL, base64 (4 characters per 3 bytes) within the API's limit. */
const MAX_WAV_BYTES = Math.floor((MAX_AUDIO_CHARS - WAV_DATA_URL.length) / 4) * 3;

async function audioOf(value: string | undefined, env: Env): Promise<string | undefined> {
  if (value === undefined || !/\.wave?$/i.test(value) || /^https?:\/\//.test(value)) {
    return value;
  }
  let wav: Buffer;
  try {
    wav = await readFile(fromShell(value, env));
  } catch (error) {
    throw new UsageError(`--audio: cannot read ${value}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  if (wav.length > MAX_WAV_BYTES) {
    throw new UsageError(`--audio: ${value} is over ${MAX_WAV_BYTES} bytes; use a shorter clip or an https URL`);
  }
  return `${WAV_DATA_URL}${wav.toString('base64')}`;
}

export async function runSimulate(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(SIMULATE_USAGE);
  }
  const [first, ...rest] = args;
  subcommand(first, SIMULATE_COMMANDS, 'simulate');
  const r = parseRemote(rest, env, SIMULATE_OPTIONS);
  const v = r.values;
  const hangupAfter = v['hangup-after'] === undefined ? undefined : Number(v['hangup-after']);
  if (hangupAfter !== undefined && !(Number.isInteger(hangupAfter) && hangupAfter > 0)) {
    throw new UsageError('--hangup-after is a whole number of seconds');
  }
  const answer = v.answer;
  if (answer !== undefined && answer !== 'accept' && answer !== 'reject' && answer !== 'ignore') {
    throw new UsageError('--answer is accept, reject or ignore');
  }
  const press = v.press === undefined ? null : v.press.toUpperCase();
  if (press !== null && !/^[0-9*#A-D,]*[0-9*#A-D][0-9*#A-D,]*$/.test(press)) {
    throw new UsageError('--press takes keys 0-9, *, #, A-D, and commas for pauses of a second (e.g. 1,,#)');
  }
  if ((press !== null || v.keypad) && v['no-wait']) {
    throw new UsageError('--press and --keypad press keys during the call: they follow it, not with --no-wait');
  }
  const audio = await audioOf(v.audio, env);
  const client = r.client();
  const stop = untilSignal();
  let iteratorOf: AsyncIterator<unknown> | undefined;
  let closeKeypad: (() => void) | undefined;
  const keysDone = new AbortController();
  let stream: ReturnType<typeof client.events.stream> | null = null;
  try {
    // Subscribe first, so that not even a quick answer is missed.
    let opened: () => void = () => undefined;
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    // A failed first connection stops the wait too: the create request then says what is wrong (server down).
    // Once connected, a lost connection is said as `calls watch` says it: the command kept waiting in silence
    // while the server restarted, which read as a hang.
    let connected = false;
    stream = v['no-wait']
      ? null
      : client.events.stream({
          signal: stop.signal,
          onOpen: ({ reconnects, lastEventId }) => {
            connected = true;
            opened();
            if (reconnects > 0) {
              r.out.note(reconnectedNote(lastEventId));
            }
          },
          onDisconnect: ({ error, delayMs }) => {
            opened();
            if (connected) {
              r.out.note(`Connection lost (${error?.message ?? 'closed'}); reconnecting in ${Math.round(delayMs)} ms`);
            }
          },
        });
    const iterator = stream?.[Symbol.asyncIterator]();
    iteratorOf = iterator;
    const first = iterator?.next();
    if (first) {
      await Promise.race([open, first, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    }
    const { call } = await client.sandbox.calls.create({
      ...(v.from ? { from: v.from } : {}),
      ...(audio ? { audio } : {}),
      ...(hangupAfter ? { hangupAfterSeconds: hangupAfter } : {}),
      ...(answer ? { answer } : {}),
    });
    r.out.result(
      { call },
      () =>
        `${call.id} RINGING from +${call.peerNumber}\n` +
        (v['no-wait']
          ? ''
          : `Answer it in the dashboard (${r.url.replace(/\/+$/, '')}/dashboard, signed in with this key), or let ` +
            `callgate hold its audio: callgate calls accept ${call.id}; Ctrl-C stops following it.\n`),
    );
    if (!iterator || !first) {
      return;
    }
    const keys = new CallerKeys(client, call.id, r.out, AbortSignal.any([stop.signal, keysDone.signal]));
    let ended = false;
    for (let next = await first; !next.done; next = await iterator.next()) {
      const e = next.value;
      // Keys and recordings name the call as callId.
      if (callIdOf(e.data) === call.id) {
        r.out.line({ id: e.id, event: e.event, data: e.data }, eventLine(e));
        if (e.event === 'call.ended') {
          ended = true;
          break;
        }
        if (e.event === 'call.connected') {
          if (press !== null) {
            keys.pressSequence(press);
          }
          if (v.keypad) {
            closeKeypad ??= keys.readFrom(process.stdin);
          }
        }
      }
    }
    // Ctrl-C stops the command, not the call: an answered caller never hangs up unless told to (--hangup-after),
    // so a call left behind stayed connected, with nothing saying so or how to end it.
    if (!ended && stop.signal.aborted) {
      r.out.note(`Stopped following ${call.id}; the call goes on. End it: callgate calls terminate ${call.id}`);
    }
  } finally {
    // Keys still to press go with the call.
    keysDone.abort();
    closeKeypad?.();
    stop.dispose();
    // Close the live stream, or its open connection (or its reconnect loop, which a pending next() holds and
    // return() would wait for) would keep the command running.
    stream?.close();
    await iteratorOf?.return?.();
  }
}

/** The simulated caller's keypad: keys pressed in order, one request at a time, each said on stderr. */
class CallerKeys {
  readonly #client: Callgate;
  readonly #callId: string;
  readonly #out: Output;
  readonly #signal: AbortSignal;
  #queue: Promise<void> = Promise.resolve();

  constructor(client: Callgate, callId: string, out: Output, signal: AbortSignal) {
    this.#client = client;
    this.#callId = callId;
    this.#out = out;
    this.#signal = signal;
  }

  /** `1,,#`: 1, two seconds, then #. */
  pressSequence(sequence: string): void {
    for (const part of sequence.split(/(,)/)) {
      if (part === ',') {
        this.#then(() => sleep(1000, undefined, { signal: this.#signal }));
      } else if (part !== '') {
        this.press(part);
      }
    }
  }

  press(keys: string): void {
    for (let i = 0; i < keys.length; i += KEYS_PER_REQUEST) {
      const chunk = keys.slice(i, i + KEYS_PER_REQUEST);
      this.#then(() => this.#send(chunk));
    }
  }

  /** Presses each line typed on `input` (a terminal, or a pipe); answers a function that stops reading. */
  readFrom(input: NodeJS.ReadStream): () => void {
    this.#out.note('Type keys (0-9 * # A-D) and Enter to press them on the caller’s keypad.');
    const lines = createInterface({ input, terminal: false });
    lines.on('line', (line) => {
      const keys = line.replace(/\s+/g, '').toUpperCase();
      if (keys === '') {
        return;
      }
      if (!KEYS.test(keys)) {
        this.#out.note(`Not keys: ${JSON.stringify(line)} (keys are 0-9, *, #, A-D)`);
        return;
      }
      this.press(keys);
    });
    return () => {
      lines.close();
      // A terminal left in reading would keep the command from returning once the call has ended.
      input.destroy();
    };
  }

  #then(step: () => Promise<unknown>): void {
    this.#queue = this.#queue.then(step).then(
      () => undefined,
      (error) => {
        if (!this.#signal.aborted) {
          this.#out.note(`Keys not pressed: ${(error as Error).message}`);
        }
      },
    );
  }

  async #send(keys: string): Promise<void> {
    const deadline = Date.now() + PRESS_RETRY_MS;
    for (;;) {
      try {
        await this.#client.sandbox.calls.pressKeys(this.#callId, keys, { signal: this.#signal });
        this.#out.note(`Pressed ${keys}`);
        return;
      } catch (error) {
        if (!(error instanceof CallgateError && error.code === 'CALL_STATE_CONFLICT') || Date.now() > deadline) {
          throw error;
        }
        await sleep(200, undefined, { signal: this.#signal });
      }
    }
  }
}
