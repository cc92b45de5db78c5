// What each webhook event means, in one line: the catalogue GET /v1/webhooks/event-types answers, so a form (the
// dashboard's, the CLI's) offers the server's own list instead of a copy that drifts.
import { WEBHOOK_EVENTS } from './event-names.ts';

type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

const DESCRIPTIONS: Record<WebhookEvent, string> = {
  'call.ringing': 'A call is offered: inbound from a peer, or outbound once it rings',
  'call.connected': 'The call was answered and media flows',
  'call.ended': 'Every call ends with exactly one, whoever ended it',
  'call.missed': 'An inbound call ended unanswered (call.ended follows)',
  'call.permission_updated': 'A peer granted, limited or refused permission to be called',
  calls: "Meta's raw calls webhook value, SDPs included, for receivers doing their own signaling (META numbers)",
  'call.recording_ready': "A call's recording can be downloaded",
  'call.dtmf': 'The caller pressed a key on a server-media call (digit, and the keys so far)',
};

export const WEBHOOK_EVENT_TYPES: readonly { name: WebhookEvent; description: string }[] = WEBHOOK_EVENTS.map(
  (name) => ({ name, description: DESCRIPTIONS[name] }),
);
