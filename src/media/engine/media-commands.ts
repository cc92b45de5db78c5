// Commands for a call whose media another process holds (several API processes on PostgreSQL): play, stop and
// realtime-session are sent to the owning process over the media channel and answered there; the caller waits
// for the reply (or times out). Each process handles only commands addressed to its own node name.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ErrorCode } from '../../errors.ts';
import type { MediaChannel } from '../../store/media-channel.ts';

export type MediaCommand =
  | { kind: 'play'; callId: string; mediaUrl: string }
  | { kind: 'stop-play'; callId: string }
  | { kind: 'realtime'; callId: string; numberId: string; mode: 'talk' | 'listen' };

export type MediaReply =
  | { ok: true; realtime?: { wsUrl: string; token: string; expiresInSeconds: number } }
  | { ok: false; code: ErrorCode; reason?: string };

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

  /** Sends a command to the process named `node` and waits for its reply. */
  async send(node: string, command: MediaCommand, timeoutMs = 20_000): Promise<MediaReply> {
    const channel = this.channel;
    if (!channel) {
      return { ok: false, code: 'SERVICE_UNAVAILABLE', reason: 'no media channel to the process holding the call' };
    }
    const id = randomBytes(12).toString('hex');
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<MediaReply>((resolve) => {
      timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ ok: false, code: 'SERVICE_UNAVAILABLE', reason: 'the process holding the call did not answer' });
      }, timeoutMs);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
    try {
      await channel.notify({ id, to: node, from: this.node, command } satisfies Envelope);
    } catch (err) {
      // Nothing went out (the store refused the NOTIFY): no reply will come, and the timer must not hold the process.
      clearTimeout(timer);
      this.pending.delete(id);
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
