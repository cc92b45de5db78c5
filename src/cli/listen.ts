// `callgate listen --forward-to <url>`: the live event stream delivered to a local URL exactly as the server's
// webhook worker would deliver it (same body bytes, Standard Webhooks headers signed by src/webhooks/signing.ts,
// webhook-id = eventId), so a receiver can be developed without a public URL. Resumes with Last-Event-ID after
// a disconnect; one attempt per event, in stream order, and the outcome is printed.
import type { StreamEvent } from '../../packages/sdk/src/index.ts';
import { generateWebhookSecret, signPayload } from '../webhooks/signing.ts';
import { callIdOf } from './calls.ts';
import { reconnectedNote } from './output.ts';
import {
  type Env,
  HelpRequested,
  list,
  parseRemote,
  REMOTE_USAGE,
  UsageError,
  untilSignal,
  wantsHelp,
} from './remote.ts';
import { checkEventNames } from './vocabulary.ts';

export const LISTEN_USAGE = `usage: callgate listen --forward-to <url> [options]   (number key, or a tenant key for every number)
  --forward-to <url>         where to POST each event (e.g. http://localhost:3000/webhooks/callgate)
  --secret <whsec_...>       sign with this secret (default: a new one, printed at start)
  --events <list>            only these events (default: all), e.g. call.ended,call.missed
  --last-event-id <cursor>   start after this cursor instead of now
  --timeout-ms <ms>          per-POST timeout (default 10000)
Each event is POSTed once, in order: one the URL refuses is printed (✗) with the --last-event-id that sends it
again, and listening goes on.
${REMOTE_USAGE}`;

export const LISTEN_OPTIONS = {
  'forward-to': { type: 'string' },
  secret: { type: 'string' },
  events: { type: 'string' },
  'last-event-id': { type: 'string' },
  'timeout-ms': { type: 'string' },
} as const;

const USER_AGENT = 'callgate-cli-listen/1';

export interface ForwardResult {
  status: number | null;
  durationMs: number;
  error?: string;
}

/** POSTs one event, signed like a webhook delivery. */
export async function forwardEvent(
  url: string,
  secret: string,
  event: StreamEvent,
  timeoutMs: number,
): Promise<ForwardResult> {
  const started = performance.now();
  const timestamp = Math.floor(Date.now() / 1000);
  const msgId = event.data.eventId;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'webhook-id': msgId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signPayload([secret], msgId, timestamp, event.raw),
        'webhook-attempt': '1',
      },
      body: event.raw,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    return { status: res.status, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    const message =
      (error as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : (cause?.message ?? (error as Error).message);
    return { status: null, durationMs: Math.round(performance.now() - started), error: message };
  }
}

export async function runListen(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(LISTEN_USAGE);
  }
  const r = parseRemote(args, env, LISTEN_OPTIONS);
  const v = r.values;
  const target = v['forward-to'];
  if (!target) {
    throw new UsageError(`listen needs --forward-to <url>\n${LISTEN_USAGE}`);
  }
  if (!/^https?:\/\//.test(target)) {
    throw new UsageError('--forward-to is an http:// or https:// URL');
  }
  const timeoutMs = v['timeout-ms'] === undefined ? 10_000 : Number(v['timeout-ms']);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    throw new UsageError('--timeout-ms is a positive whole number');
  }
  const named = list(v.events);
  const only = named === undefined ? undefined : checkEventNames(named, '--events', false);
  const generated = !v.secret;
  const secret = v.secret ?? generateWebhookSecret();
  if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) {
    throw new UsageError('--secret is a whsec_... secret (whsec_ + base64)');
  }
  const client = r.client();

  const stop = untilSignal();
  try {
    const stream = client.events.stream({
      signal: stop.signal,
      ...(v['last-event-id'] ? { lastEventId: v['last-event-id'] } : {}),
      onOpen: ({ reconnects, lastEventId }) => {
        if (reconnects === 0) {
          r.out.line(
            { type: 'ready', forwardTo: target, secret, generatedSecret: generated },
            `Ready: forwarding call events to ${target} (Ctrl-C to stop)\n` +
              (generated
                ? `Signing secret: ${secret}   (generated; pass --secret to choose one)`
                : 'Signing with the secret given by --secret'),
          );
        } else {
          r.out.line({ type: 'reconnected', lastEventId }, reconnectedNote(lastEventId));
        }
      },
      onDisconnect: ({ error, delayMs }) =>
        r.out.note(`Connection lost (${error?.message ?? 'closed'}); reconnecting in ${Math.round(delayMs)} ms`),
    });
    // The cursor just before each event: a failed one is not retried, and the line shown said only its eventId,
    // which --last-event-id does not take. Unknown for the first event of a start "from now".
    let before: string | null = v['last-event-id'] ?? null;
    for await (const event of stream) {
      const after = before;
      before = event.id;
      if (only && !(only as string[]).includes(event.event)) {
        continue;
      }
      const result = await forwardEvent(target, secret, event, timeoutMs);
      const ok = result.status !== null && result.status >= 200 && result.status < 300;
      const callId = callIdOf(event.data);
      const again = ok
        ? ''
        : after === null
          ? '  (not resent)'
          : `  (not resent; --last-event-id ${after} sends it again)`;
      r.out.line(
        {
          type: ok ? 'forwarded' : 'failed',
          event: event.event,
          eventId: event.data.eventId,
          callId,
          cursor: event.id,
          ...(ok ? {} : { resendWith: after }),
          ...result,
        },
        `${ok ? '→' : '✗'} ${event.event.padEnd(23)} ${event.data.eventId}  ${result.status ?? result.error}  ${result.durationMs} ms${again}`,
      );
    }
  } finally {
    stop.dispose();
  }
}
