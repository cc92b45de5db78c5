// The API's words the CLI checks before sending (event names, call statuses), spelled against the SDK's types:
// the remote commands load only the SDK, and a name the server adds or drops fails the typecheck here.
import type { CallStatus, WebhookEventName } from '../../packages/sdk/src/index.ts';
import { UsageError } from './remote.ts';
import { unknownChoice } from './suggest.ts';

export const EVENT_NAMES = [
  'call.ringing',
  'call.connected',
  'call.ended',
  'call.missed',
  'call.permission_updated',
  'calls',
  'call.recording_ready',
  'call.dtmf',
] as const satisfies readonly WebhookEventName[];

export const CALL_STATUSES = [
  'INITIATED',
  'RINGING',
  'ACCEPTED',
  'COMPLETED',
  'FAILED',
  'REJECTED',
  'MISSED',
] as const satisfies readonly CallStatus[];

// Compile-time: every name the SDK knows is listed above.
const everyEvent: Record<Exclude<WebhookEventName, (typeof EVENT_NAMES)[number]>, never> = {};
const everyStatus: Record<Exclude<CallStatus, (typeof CALL_STATUSES)[number]>, never> = {};
void everyEvent;
void everyStatus;

/** Each name checked, the first bad one answered with the valid names (`*` allowed when `wildcard`). */
export function checkEventNames(names: readonly string[], flag: string, wildcard: boolean): WebhookEventName[] {
  const valid: readonly string[] = wildcard ? [...EVENT_NAMES, '*'] : EVENT_NAMES;
  for (const name of names) {
    if (!valid.includes(name)) {
      throw new UsageError(`${flag}: ${unknownChoice('event', name, valid)}`);
    }
  }
  return names as WebhookEventName[];
}

/** --status RINGING or RINGING,ACCEPTED: the API's own status=A,B filter. */
export function checkStatuses(value: string): CallStatus[] {
  return value.split(',').map((part) => {
    const upper = part.trim().toUpperCase();
    if (!(CALL_STATUSES as readonly string[]).includes(upper)) {
      throw new UsageError(`--status: ${unknownChoice('status', part.trim(), CALL_STATUSES)}`);
    }
    return upper as CallStatus;
  });
}
