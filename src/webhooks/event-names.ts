// The event names a webhook may subscribe to, written once: the service stores subscriptions by them and the API
// schema validates and documents them. The call lifecycle's names come from the call model.
import { CALL_EVENT_TYPES } from '../model/call.ts';

export const WEBHOOK_EVENTS = [
  ...CALL_EVENT_TYPES,
  'call.permission_updated',
  // Meta's raw `calls` value (SDPs included) for receivers doing their own WebRTC signaling (META numbers only).
  'calls',
  'call.recording_ready',
  'call.dtmf',
] as const;

/** What a subscription may name: an event, or "*" for all of them. */
export const WEBHOOK_EVENT_FILTERS = [...WEBHOOK_EVENTS, '*'] as const;

/**
 * Event families Pilot documents that callgate cannot emit (messages, number status): a Pilot client subscribing to
 * them must not fail, so the names are accepted and dropped from the stored list.
 */
export const PILOT_ONLY_EVENT_PATTERN = '^(message|number)\\.[a-z_]{1,40}$';
const PILOT_ONLY_EVENT = new RegExp(PILOT_ONLY_EVENT_PATTERN);

/** The names callgate can deliver, once each; Pilot-only names are dropped. */
export function emittable(events: string[]): string[] {
  return [...new Set(events.filter((e) => !PILOT_ONLY_EVENT.test(e)))];
}
