// `callgate calls list|get|events|terminate|watch|play|stop-play|listen` (number key; watch also takes a tenant key).
import type { Call, CallPage, StreamEvent, TimelineEntry } from '../../packages/sdk/src/index.ts';
import * as media from './media.ts';
import { formatRecord, formatTable, type Output, shortTime } from './output.ts';
import { type Env, parseRemote, REMOTE_USAGE, required, UsageError, untilSignal } from './remote.ts';

export const CALLS_USAGE = `usage: callgate calls <command> [options]   (number key)
  calls list [--limit 1..100] [--before <ISO time>] [--all]   newest first; --all follows every page
  calls get <callId> [--sdp]                                  by call_... id or the provider's call id
  calls events <callId>                                       the call's timeline
  calls terminate <callId>                                    hang up (an ended call answers alreadyEnded)
  calls watch [--last-event-id <cursor>]                      live call events, one line each, until Ctrl-C
                                                              (a tenant key watches every number)
  calls play <callId> <mediaUrl>                              play a WAV, Ogg/Opus or MP3 into the call
  calls stop-play <callId>                                    stop playing, empty the queue (server media)
  calls listen <callId> [--out caller.wav] [--seconds N]      the caller's audio to a WAV (server media)
${REMOTE_USAGE}`;

const OPTIONS = {
  limit: { type: 'string' },
  before: { type: 'string' },
  all: { type: 'boolean' },
  sdp: { type: 'boolean' },
  'last-event-id': { type: 'string' },
  out: { type: 'string' },
  seconds: { type: 'string' },
} as const;

const columns = [
  { header: 'ID', value: (c: Call) => c.id },
  { header: 'DIRECTION', value: (c: Call) => c.direction },
  { header: 'STATUS', value: (c: Call) => c.status },
  { header: 'PEER', value: (c: Call) => c.peerNumber },
  { header: 'STARTED', value: (c: Call) => shortTime(c.startedAt) },
  { header: 'DURATION', value: (c: Call) => (c.durationSeconds === null ? null : `${c.durationSeconds}s`) },
  { header: 'ENDED BY', value: (c: Call) => c.endedBy },
];

const timelineColumns = [
  { header: '#', value: (e: TimelineEntry) => e.sequence },
  { header: 'AT', value: (e: TimelineEntry) => shortTime(e.at) },
  { header: 'SOURCE', value: (e: TimelineEntry) => e.source },
  { header: 'TYPE', value: (e: TimelineEntry) => e.type },
  { header: 'DETAIL', value: (e: TimelineEntry) => (Object.keys(e.detail).length ? e.detail : null) },
];

function callRecord(c: Call): [string, unknown][] {
  return [
    ['id', c.id],
    ['provider id', c.externalCallId],
    ['number', c.numberId],
    ['direction', c.direction],
    ['status', c.status],
    ['peer', c.peerNumber],
    ['started', c.startedAt],
    ['connected', c.connectedAt],
    ['ended', c.endedAt],
    ['duration', c.durationSeconds === null ? null : `${c.durationSeconds}s`],
    ['ended by', c.endedBy],
    ['end reason', c.endReason],
    ['callback data', c.bizOpaqueCallbackData],
    ...(c.sdpOffer !== undefined
      ? ([['sdp offer', c.sdpOffer === null ? null : `\n${c.sdpOffer}`]] as [string, unknown][])
      : []),
    ...(c.sdpAnswer !== undefined
      ? ([['sdp answer', c.sdpAnswer === null ? null : `\n${c.sdpAnswer}`]] as [string, unknown][])
      : []),
  ];
}

/** One stream event as a line: time, event, call, status, peer. */
export function eventLine(e: StreamEvent): string {
  const d = e.data;
  const subject =
    d.event === 'call.permission_updated'
      ? `permission ${d.status}`
      : `${d.id}  ${d.status}${d.durationSeconds !== null ? ` ${d.durationSeconds}s` : ''}`;
  return `${shortTime(d.occurredAt)}  ${e.event.padEnd(23)}  ${subject}  ${d.peerNumber}`;
}

async function watch(out: Output, stream: AsyncIterable<StreamEvent>): Promise<void> {
  for await (const e of stream) {
    out.line({ id: e.id, event: e.event, data: e.data }, eventLine(e));
  }
}

export async function runCalls(args: string[], env: Env): Promise<void> {
  const [sub, ...rest] = args;
  const r = parseRemote(rest, env, OPTIONS);
  if (r.help || sub === undefined || sub === '--help' || sub === '-h') {
    throw new UsageError(CALLS_USAGE);
  }
  const v = r.values;
  switch (sub) {
    case 'list': {
      const limit = v.limit === undefined ? undefined : Number(v.limit);
      if (limit !== undefined && !Number.isInteger(limit)) {
        throw new UsageError('--limit is a whole number');
      }
      const params = { ...(limit !== undefined ? { limit } : {}), ...(v.before ? { before: v.before } : {}) };
      let page: CallPage;
      if (v.all) {
        const calls: Call[] = [];
        for await (const p of r.client().calls.iterate({ ...params, limit: limit ?? 100 })) {
          calls.push(...p.calls);
        }
        page = { calls, nextBefore: null };
      } else {
        page = await r.client().calls.list(params);
      }
      return r.out.result(
        page,
        () =>
          formatTable(page.calls, columns) +
          (page.nextBefore
            ? `More: callgate calls list --before ${page.nextBefore}${limit ? ` --limit ${limit}` : ''} (or --all)\n`
            : ''),
      );
    }
    case 'get': {
      const call = await r.client().calls.get(required(r.positionals, 0, '<callId>'), { includeSdp: v.sdp === true });
      return r.out.result(call, () => formatRecord(callRecord(call)));
    }
    case 'events': {
      const events = await r.client().calls.events(required(r.positionals, 0, '<callId>'));
      return r.out.result({ events }, () => formatTable(events, timelineColumns));
    }
    case 'play':
      return media.play(
        r.client().calls,
        r.out,
        required(r.positionals, 0, '<callId>'),
        required(r.positionals, 1, '<mediaUrl>'),
      );
    case 'stop-play':
      return media.stopPlay(r.client().calls, r.out, required(r.positionals, 0, '<callId>'));
    case 'listen':
      return media.listen(
        r.client().calls,
        r.out,
        required(r.positionals, 0, '<callId>'),
        v.out ?? 'caller.wav',
        v.seconds === undefined ? null : Number(v.seconds),
      );
    case 'terminate': {
      const result = await r.client().calls.terminate(required(r.positionals, 0, '<callId>'));
      return r.out.result(
        result,
        () => `${result.id} ${result.status}${result.alreadyEnded ? ' (had already ended; nothing sent)' : ''}\n`,
      );
    }
    case 'watch': {
      const stop = untilSignal();
      try {
        const stream = r.client().events.stream({
          signal: stop.signal,
          ...(v['last-event-id'] ? { lastEventId: v['last-event-id'] } : {}),
          onOpen: ({ reconnects, lastEventId }) =>
            r.out.note(
              reconnects === 0
                ? 'Watching call events (Ctrl-C to stop)…'
                : `Reconnected, resuming after ${lastEventId ?? 'the start'}`,
            ),
          onDisconnect: ({ error, delayMs }) =>
            r.out.note(`Connection lost (${error?.message ?? 'closed'}); reconnecting in ${Math.round(delayMs)} ms`),
        });
        await watch(r.out, stream);
      } finally {
        stop.dispose();
      }
      return;
    }
    default:
      throw new UsageError(`unknown calls command "${sub}"\n${CALLS_USAGE}`);
  }
}
