// `callgate calls list|get|…|listen|recording|delete-recording` (number key; watch also takes a tenant key).
import type { Call, Callgate, CallPage, CallStatus, StreamEvent, TimelineEntry } from '../../packages/sdk/src/index.ts';
import * as media from './media.ts';
import { formatRecord, formatTable, type Output, reconnectedNote, shortTime } from './output.ts';
import {
  type Env,
  fromShell,
  HelpRequested,
  limitFlag,
  onOffFlag,
  optionsOf,
  parseRemote,
  REMOTE_USAGE,
  required,
  subcommand,
  UsageError,
  untilSignal,
  wantsHelp,
} from './remote.ts';
import { checkStatuses } from './vocabulary.ts';

export const CALLS_USAGE = `usage: callgate calls <command> [options]   (number key)
  calls list [--limit 1..100] [--before <ISO time|callId>] [--all]   newest first; --all follows every page
             [--status RINGING[,ACCEPTED]] [--peer <digits>] [--since <ISO time|30m|2h|7d>]
                                                              filters: status (one or several), peer number
                                                              containing the digits, started at or after --since
  calls get <callId> [--sdp]                                  by call_... id or the provider's call id
  calls events <callId>                                       the call's timeline
  calls accept <callId> [--record]                            answer without an SDP: on META and SANDBOX numbers
                                                              callgate holds the audio (server media)
  calls reject <callId>                                       decline a ringing call (it ends REJECTED)
  calls terminate <callId>                                    hang up (an ended call answers alreadyEnded)
  calls watch [--last-event-id <cursor>]                      live call events, one line each, until Ctrl-C
                                                              (a tenant key watches every number)
  calls play <callId> <mediaUrl> [--stop-on-key]              play a WAV, Ogg/Opus or MP3 into the call
                                                              (--stop-on-key: a key the caller presses stops it)
  calls stop-play <callId>                                    stop playing, empty the queue (server media)
  calls listen <callId> [--out caller.wav] [--seconds N]      caller's audio to a WAV, its keys printed (server media)
  calls recording <callId> [--out <callId>.ogg]               download the call's recording (stereo Ogg/Opus)
  calls delete-recording <callId>                             delete the recording's file
  calls settings [--calling on|off] [--callback-permission on|off]
                                                              the number's calling settings (META, SANDBOX);
                                                              with a flag, change them (off: WhatsApp users
                                                              cannot call the number)
${REMOTE_USAGE}`;

export const CALLS_COMMANDS = [
  'list',
  'get',
  'events',
  'accept',
  'reject',
  'terminate',
  'watch',
  'play',
  'stop-play',
  'listen',
  'recording',
  'delete-recording',
  'settings',
] as const;

export const CALLS_OPTIONS = {
  limit: { type: 'string' },
  before: { type: 'string' },
  all: { type: 'boolean' },
  status: { type: 'string' },
  peer: { type: 'string' },
  since: { type: 'string' },
  sdp: { type: 'boolean' },
  'last-event-id': { type: 'string' },
  out: { type: 'string' },
  seconds: { type: 'string' },
  record: { type: 'boolean' },
  'stop-on-key': { type: 'boolean' },
  calling: { type: 'string' },
  'callback-permission': { type: 'string' },
} as const;

/** The options each command takes, beyond the connection's. */
const CALLS_FLAGS: Record<(typeof CALLS_COMMANDS)[number], readonly (keyof typeof CALLS_OPTIONS)[]> = {
  list: ['limit', 'before', 'all', 'status', 'peer', 'since'],
  get: ['sdp'],
  events: [],
  accept: ['record'],
  reject: [],
  terminate: [],
  watch: ['last-event-id'],
  play: ['stop-on-key'],
  'stop-play': [],
  listen: ['out', 'seconds'],
  recording: ['out'],
  'delete-recording': [],
  settings: ['calling', 'callback-permission'],
};

/** An on|off flag as Meta's ENABLED|DISABLED under `field`; nothing when the flag was not given. */
function onOff(value: string | undefined, flag: string, field: string): Record<string, 'ENABLED' | 'DISABLED'> {
  const on = onOffFlag(value, flag);
  return on === undefined ? {} : { [field]: on ? 'ENABLED' : 'DISABLED' };
}

/** The settings a person checks first, in Meta's terms; --json has them all. */
function settingsRecord(calling: Record<string, unknown>): [string, unknown][] {
  const hours = calling.call_hours as { status?: string; timezone_id?: string } | undefined;
  return [
    ['calling', calling.status ?? '(not set)'],
    ['call icon', calling.call_icon_visibility ?? '(not set)'],
    ['callback permission', calling.callback_permission_status ?? '(not set)'],
    ['call hours', hours ? [hours.status, hours.timezone_id].filter(Boolean).join(', ') : '(not set)'],
  ];
}

const UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** --since as an instant: an ISO time, or a duration back from now (30m, 2h, 7d). */
export function parseSince(value: string, now: number): number {
  const relative = /^(\d+)([smhd])$/.exec(value);
  if (relative) {
    return now - Number(relative[1]) * (UNITS_MS[relative[2] ?? 's'] ?? 1000);
  }
  const at = Date.parse(value);
  if (Number.isNaN(at)) {
    throw new UsageError(`--since is an ISO time (2026-01-31T12:00:00Z) or a duration back from now (30m, 2h, 7d)`);
  }
  return at;
}

/**
 * --before as the API takes it: a call id, or a time (read as --since reads one, sent in full ISO form). A value
 * that is neither was sent as it was and came back a 400 listing three schema failures (exit 1).
 */
function beforeFlag(value: string): string {
  if (/^call_[0-9A-Z]{26}$/.test(value)) {
    return value;
  }
  const at = Date.parse(value);
  if (Number.isNaN(at)) {
    throw new UsageError('--before is an ISO time (2026-01-31T12:00:00Z) or a call id (call_...)');
  }
  // A full ISO time goes as typed: Date drops digits past the millisecond, which the server counts
  // (before=…08.5871Z lists a call created at …08.587Z).
  return ISO_INSTANT.test(value) ? value : new Date(at).toISOString();
}

const ISO_INSTANT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

interface CallFilter {
  statuses?: CallStatus[];
  peerDigits?: string;
  sinceMs?: number;
}

const digits = (s: string) => s.replace(/\D/g, '');

/**
 * Calls matching the filters, newest first, up to `limit`. The API filters by status and peer itself; --since is
 * not an API filter, so pages are read until enough match or a page starts before it. nextBefore resumes after the
 * last call shown.
 */
async function filteredCalls(
  client: Callgate,
  params: { limit?: number; before?: string },
  filter: CallFilter,
  all: boolean,
): Promise<CallPage> {
  const want = all ? Number.POSITIVE_INFINITY : (params.limit ?? 20);
  const calls: Call[] = [];
  const onServer = {
    ...(filter.statuses !== undefined ? { status: filter.statuses.join(',') } : {}),
    ...(filter.peerDigits !== undefined ? { peer: filter.peerDigits } : {}),
  };
  for await (const page of client.calls.iterate({ ...params, ...onServer, limit: 100 })) {
    for (const call of page.calls) {
      if (filter.sinceMs !== undefined && Date.parse(call.startedAt ?? call.createdAt) < filter.sinceMs) {
        return { calls, nextBefore: null };
      }
      const matches =
        (filter.statuses === undefined || filter.statuses.includes(call.status)) &&
        (filter.peerDigits === undefined || digits(call.peerNumber ?? '').includes(filter.peerDigits));
      if (matches) {
        calls.push(call);
        if (calls.length >= want) {
          return { calls, nextBefore: call.id };
        }
      }
    }
  }
  return { calls, nextBefore: null };
}

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
    // Only where the API says so: who holds the audio, and the recording of a server-media call.
    ...(c.media !== undefined ? ([['media', c.media]] as [string, unknown][]) : []),
    ...(c.recording !== undefined
      ? ([
          [
            'recording',
            `${c.recording.status}${c.recording.durationSeconds == null ? '' : `, ${c.recording.durationSeconds}s`}`,
          ],
        ] as [string, unknown][])
      : []),
    ...(c.sdpOffer !== undefined
      ? ([['sdp offer', c.sdpOffer === null ? null : `\n${c.sdpOffer}`]] as [string, unknown][])
      : []),
    ...(c.sdpAnswer !== undefined
      ? ([['sdp answer', c.sdpAnswer === null ? null : `\n${c.sdpAnswer}`]] as [string, unknown][])
      : []),
  ];
}

// calls watch prints fixed-width columns, so lines printed minutes apart still line up under the header.
const WATCH_WIDTHS = [19, 23, 31, 9, 8] as const;
const watchRow = (cells: readonly string[]) =>
  cells
    .map((c, i) => (i < WATCH_WIDTHS.length ? c.padEnd(WATCH_WIDTHS[i] ?? 0) : c))
    .join('  ')
    .trimEnd();

export const WATCH_HEADER = watchRow(['TIME', 'EVENT', 'CALL', 'STATUS', 'DURATION', 'PEER']);

/** The call an event is about: a snapshot's id, a recording's or a key's callId, none for a permission change. */
export function callIdOf(data: StreamEvent['data']): string | null {
  return (data.event === 'call.recording_ready' || data.event === 'call.dtmf' ? data.callId : data.id) ?? null;
}

/** One stream event as a line under WATCH_HEADER: time, event, call, status, duration, peer. */
export function eventLine(e: StreamEvent): string {
  const d = e.data;
  const time = shortTime(d.occurredAt) ?? '-';
  if (d.event === 'call.permission_updated') {
    return watchRow([time, e.event, '(permission)', d.status, '-', d.peerNumber ?? d.peerUserId ?? '-']);
  }
  if (d.event === 'call.recording_ready') {
    const seconds = d.recording.durationSeconds;
    return watchRow([
      time,
      e.event,
      callIdOf(d) ?? '-',
      d.recording.status,
      seconds === null ? '-' : `${seconds}s`,
      '-',
    ]);
  }
  if (d.event === 'call.dtmf') {
    // The STATUS column shows the key, and the keys so far beside it.
    return watchRow([time, e.event, d.callId, `key ${d.digit}`, '-', `keys ${d.digits}`]);
  }
  const duration = d.durationSeconds === null ? '-' : `${d.durationSeconds}s`;
  return watchRow([time, e.event, d.id, d.status, duration, d.peerNumber ?? d.peerUserId ?? '-']);
}

async function watch(out: Output, stream: AsyncIterable<StreamEvent>): Promise<void> {
  if (!out.json) {
    out.line(null, WATCH_HEADER);
  }
  for await (const e of stream) {
    out.line({ id: e.id, event: e.event, data: e.data }, eventLine(e));
  }
}

export async function runCalls(args: string[], env: Env): Promise<void> {
  if (wantsHelp(args)) {
    throw new HelpRequested(CALLS_USAGE);
  }
  const [first, ...rest] = args;
  const sub = subcommand(first, CALLS_COMMANDS, 'calls');
  const r = parseRemote(rest, env, optionsOf(CALLS_OPTIONS, CALLS_FLAGS[sub]));
  const v = r.values;
  switch (sub) {
    case 'list': {
      const limit = limitFlag(v.limit, 100);
      const before = v.before === undefined ? undefined : beforeFlag(v.before);
      const params = { ...(limit !== undefined ? { limit } : {}), ...(before ? { before } : {}) };
      const filter: CallFilter = {
        ...(v.status !== undefined ? { statuses: checkStatuses(v.status) } : {}),
        ...(v.peer !== undefined ? { peerDigits: digits(v.peer) } : {}),
        ...(v.since !== undefined ? { sinceMs: parseSince(v.since, Date.now()) } : {}),
      };
      if (v.peer !== undefined && !filter.peerDigits) {
        throw new UsageError('--peer is a phone number or part of one (digits)');
      }
      const filtered = Object.keys(filter).length > 0;
      const again = (['status', 'peer', 'since'] as const)
        .map((name) => (v[name] === undefined ? '' : ` --${name} ${v[name]}`))
        .join('');
      let page: CallPage;
      if (filtered) {
        page = await filteredCalls(r.client(), params, filter, v.all === true);
      } else if (v.all) {
        const calls: Call[] = [];
        for await (const p of r.client().calls.iterate({ ...params, limit: limit ?? 100 })) {
          calls.push(...p.calls);
        }
        page = { calls, nextBefore: null };
      } else {
        // The API's exact cursor is a call id: a createdAt would skip the calls created in the same millisecond as
        // the last one shown.
        const listed = await r.client().calls.list(params);
        page = {
          calls: listed.calls,
          nextBefore: listed.nextBefore === null ? null : (listed.calls.at(-1)?.id ?? null),
        };
      }
      return r.out.result(
        page,
        () =>
          formatTable(page.calls, columns) +
          (page.nextBefore
            ? `More: callgate calls list --before ${page.nextBefore}${limit ? ` --limit ${limit}` : ''}${again} (or --all)\n`
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
        v['stop-on-key'] === true,
      );
    case 'stop-play':
      return media.stopPlay(r.client().calls, r.out, required(r.positionals, 0, '<callId>'));
    case 'listen':
      return media.listen(
        r.client().calls,
        r.out,
        required(r.positionals, 0, '<callId>'),
        fromShell(v.out ?? 'caller.wav', env),
        v.seconds === undefined ? null : Number(v.seconds),
      );
    case 'recording': {
      const id = required(r.positionals, 0, '<callId>');
      return media.recording(r.client().calls, r.out, id, fromShell(v.out ?? `${id}.ogg`, env));
    }
    case 'settings': {
      const change = {
        ...onOff(v.calling, '--calling', 'status'),
        ...onOff(v['callback-permission'], '--callback-permission', 'callback_permission_status'),
      };
      const client = r.client();
      const calling =
        Object.keys(change).length > 0
          ? (await client.calls.settings.update({ calling: change })).calling
          : ((await client.calls.settings.get()).calling ?? {});
      return r.out.result(calling, () => formatRecord(settingsRecord(calling)));
    }
    case 'delete-recording': {
      const result = await r.client().calls.deleteRecording(required(r.positionals, 0, '<callId>'));
      return r.out.result(result, () => `${result.id} recording ${result.status}\n`);
    }
    case 'accept': {
      const client = r.client();
      const result = await client.calls.accept(
        required(r.positionals, 0, '<callId>'),
        v.record ? { record: true } : {},
      );
      r.out.result(result, () => `${result.id} ${result.status}\n`);
      // What to do with a call whose audio callgate now holds (a web number's stays on its phone).
      if (!r.out.json && (await client.calls.get(result.id).catch(() => null))?.media === 'server') {
        r.out.note(
          `callgate holds its audio: callgate calls listen ${result.id} (the caller to a WAV), ` +
            `callgate calls play ${result.id} <mediaUrl>, or a realtime socket from the SDK (calls.realtime)`,
        );
      }
      return;
    }
    case 'reject': {
      // The API's decline: without it the CLI could only hang up, which ends a ringing call COMPLETED.
      const result = await r.client().calls.reject(required(r.positionals, 0, '<callId>'));
      return r.out.result(result, () => `${result.id} ${result.status}\n`);
    }
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
            r.out.note(reconnects === 0 ? 'Watching call events (Ctrl-C to stop)…' : reconnectedNote(lastEventId)),
          onDisconnect: ({ error, delayMs }) =>
            r.out.note(`Connection lost (${error?.message ?? 'closed'}); reconnecting in ${Math.round(delayMs)} ms`),
        });
        await watch(r.out, stream);
      } finally {
        stop.dispose();
      }
      return;
    }
  }
}
