// Commands for a call whose media another process holds (several API processes on PostgreSQL): play, stop and
// realtime-session are sent to the owning process over the media channel and answered there; the caller waits
// for the reply (or times out). Each process handles only commands addressed to its own node name.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ErrorCode } from '../../errors.ts';
import type { MediaChannel } from '../../store/media-channel.ts';

export type MediaCommand =
  | { kind: 'play'; callId: string; mediaUrl: string; stopOnKey?: boolean }
  | { kind: 'stop-play'; callId: string }
  | { kind: 'realtime'; callId: string; numberId: string; mode: 'talk' | 'listen' };

export type MediaReply =
  | { ok: true; realtime?: { wsUrl: string; token: string; expiresInSeconds: number } }
  | { ok: false; code: ErrorCode; reason?: string; retryAfterSeconds?: number };

interface Envelope {
  id: string;
  to: string;
  from: string;
  command?: MediaCommand;
  reply?: MediaReply;
}

export class MediaCommands {
  private readonly node: string;
  private readonly handle: (command: MediaCommand) => Promise<MediaReply>;
  private readonly logger: Logger;
  private readonly pending = new Map<string, (reply: MediaReply) => void>();
  private channel: MediaChannel | null = null;

  constructor(node: string, handle: (command: MediaCommand) => Promise<MediaReply>, logger: Logger) {
    this.node = node;
    this.handle = handle;
    this.logger = logger;
  }

  attach(channel: MediaChannel): void {
    this.channel = channel;
  }

  /**
   * Sends a command to the process named `node` and waits for its reply. `watch`, asked once before sending and
   * every `watchEveryMs` while waiting, answers in the owner's place when it can tell the owner is gone: a dead
   * process never replies, and the timeout alone would hold the request for its whole length.
   */
  async send(
    node: string,
    command: MediaCommand,
    opts: { timeoutMs?: number; watch?: () => Promise<MediaReply | null>; watchEveryMs?: number } = {},
  ): Promise<MediaReply> {
    const { timeoutMs = 20_000, watch, watchEveryMs = 1000 } = opts;
    const channel = this.channel;
    if (!channel) {
      return { ok: false, code: 'SERVICE_UNAVAILABLE', reason: 'no media channel to the process holding the call' };
    }
    // The first look counts against the timeout: a store that does not answer it must not hold the request longer.
    const started = performance.now();
    const before = watch
      ? await within(
          watch().catch(() => null),
          timeoutMs,
        )
      : null;
    if (before && before !== 'late') {
      return before;
    }
    const left = timeoutMs - (performance.now() - started);
    // The timer's own verdict counts, not only the clock: a timer may fire a fraction of a millisecond before
    // performance.now() says its time is up.
    if (before === 'late' || left <= 0) {
      // The wait is over before anything went out: sent now, the owner would act on a command whose caller is
      // answered that it failed (a play heard, then heard again when the client retries).
      return { ok: false, code: 'SERVICE_UNAVAILABLE', reason: 'the process holding the call did not answer' };
    }
    const id = randomBytes(12).toString('hex');
    let timer: NodeJS.Timeout | undefined;
    let watcher: NodeJS.Timeout | undefined;
    const stop = () => {
      clearTimeout(timer);
      clearInterval(watcher);
      this.pending.delete(id);
    };
    const answered = new Promise<MediaReply>((resolve) => {
      const settle = (reply: MediaReply) => {
        stop();
        resolve(reply);
      };
      timer = setTimeout(
        () => settle({ ok: false, code: 'SERVICE_UNAVAILABLE', reason: 'the process holding the call did not answer' }),
        left,
      );
      this.pending.set(id, settle);
      if (watch) {
        let looking = false;
        watcher = setInterval(() => {
          if (looking) {
            return;
          }
          looking = true;
          // A failed look (the store briefly unreachable) is no verdict: the reply or the timeout still comes.
          watch()
            .catch(() => null)
            .then((reply) => {
              looking = false;
              if (reply && this.pending.has(id)) {
                settle(reply);
              }
            });
        }, watchEveryMs);
      }
    });
    try {
      await channel.notify({ id, to: node, from: this.node, command } satisfies Envelope);
    } catch (err) {
      // Nothing went out (the store refused the NOTIFY): no reply will come, and the timers must not hold the process.
      stop();
      throw err;
    }
    return answered;
  }

  /** Every message on the channel: commands for this node are run, replies for it resolve their sender. */
  receive(message: unknown): void {
    const m = message as Partial<Envelope>;
    if (typeof m !== 'object' || m === null || m.to !== this.node || typeof m.id !== 'string') {
      return;
    }
    if (m.reply) {
      this.pending.get(m.id)?.(m.reply);
      this.pending.delete(m.id);
      return;
    }
    if (m.command && typeof m.from === 'string') {
      const { id, from, command } = m;
      this.handle(command)
        .catch((err: Error): MediaReply => {
          this.logger.error({ err: err.message }, 'media command failed');
          return { ok: false, code: 'INTERNAL_ERROR' };
        })
        .then((reply) => this.channel?.notify({ id, to: from, from: this.node, reply } satisfies Envelope))
        .catch((err: Error) => this.logger.warn({ err: err.message }, 'media command reply not sent'));
    }
  }
}

/** The look's answer, or null (no verdict) once `ms` have passed without one. */
/** The look's reply, null for none, or 'late' when `ms` ran out first. */
async function within(look: Promise<MediaReply | null>, ms: number): Promise<MediaReply | null | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    return await Promise.race([look, late]);
  } finally {
    clearTimeout(timer);
  }
}
