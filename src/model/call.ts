// The call as the domain and the store know it. Bottom of the house: imports nothing of ours but the id types.
import type { CallId, NumberId, TenantId } from './ids.ts';

export const CALL_STATUSES = ['INITIATED', 'RINGING', 'ACCEPTED', 'COMPLETED', 'FAILED', 'REJECTED', 'MISSED'] as const;
export type CallStatus = (typeof CALL_STATUSES)[number];
export const TERMINAL_STATUSES = ['COMPLETED', 'FAILED', 'REJECTED', 'MISSED'] as const satisfies readonly CallStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export const DIRECTIONS = ['INBOUND', 'OUTBOUND'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const ENDED_BY = ['BUSINESS', 'PEER', 'SYSTEM'] as const;
export type EndedBy = (typeof ENDED_BY)[number];

export const CALL_EVENT_TYPES = ['call.ringing', 'call.connected', 'call.ended', 'call.missed'] as const;
export type CallEventType = (typeof CALL_EVENT_TYPES)[number];

/** A business action (terminate, reject, accept) sent to the provider and not yet settled. */
export interface PendingAction {
  id: string;
  kind: BusinessActionKind;
  startedAt: string;
}
/**
 * 'system-end': the sweeper ending a call at the provider (ring timeout, maxDuration): its end is by SYSTEM.
 * 'media-timeout' / 'media-lost': server media ending its call at the provider: FAILED by SYSTEM for that reason.
 */
export type BusinessActionKind = 'terminate' | 'reject' | 'accept' | 'system-end' | 'media-timeout' | 'media-lost';

export interface Call {
  id: CallId;
  externalCallId: string;
  numberId: NumberId;
  tenantId: TenantId;
  direction: Direction;
  status: CallStatus;
  /** Digits; null when the caller's phone number is not known (a Meta user id or a WhatsApp LID only). */
  peerNumber: string | null;
  /** Meta's business-scoped user id, when Meta identifies the caller by it. */
  peerUserId: string | null;
  /** The caller's WhatsApp LID (web numbers), when it presented one. */
  peerLid: string | null;
  durationSeconds: number | null;
  startedAt: string;
  connectedAt: string | null;
  endedAt: string | null;
  endedBy: EndedBy | null;
  endReason: string | null;
  bizOpaqueCallbackData: string | null;
  sdpOffer: string | null;
  sdpAnswer: string | null;
  createdAt: string;
  updatedAt: string;
  /** Ended by the system through the provider once answered this long (null: no limit). */
  maxDurationSeconds: number | null;
  /** Provider facts a later action needs (e.g. Evolution's callCreator JID). */
  providerData: Record<string, unknown> | null;
  /** Number of events recorded for this call; the next event gets eventSeq + 1. */
  eventSeq: number;
  pendingAction: PendingAction | null;
}

/** providerData key: an ending action the provider accepted without confirming it; its end event clears it. */
export const UNCONFIRMED_END = 'unconfirmedEnd';

export function isTerminal(status: CallStatus): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly CallStatus[]).includes(status);
}
