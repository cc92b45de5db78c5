import type { CallId, NumberId, TenantId } from '../ids.ts';

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
/** 'system-end': the sweeper ending a call at the provider (ring timeout, maxDuration): its end is by SYSTEM. */
export type BusinessActionKind = 'terminate' | 'reject' | 'accept' | 'system-end';

export interface Call {
  id: CallId;
  externalCallId: string;
  numberId: NumberId;
  tenantId: TenantId;
  direction: Direction;
  status: CallStatus;
  peerNumber: string;
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

export function isTerminal(status: CallStatus): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly CallStatus[]).includes(status);
}

/** The public call object (docs/spec/calls-api.md §2); SDPs only when asked for. */
export function toPublicCall(call: Call, includeSdp = false) {
  const {
    eventSeq: _seq,
    pendingAction: _pending,
    tenantId: _tenant,
    maxDurationSeconds: _max,
    providerData: _data,
    sdpOffer,
    sdpAnswer,
    ...rest
  } = call;
  // Calls of sandbox numbers say so wherever a call is shown (responses, the stream, webhooks).
  const marked = call.providerData?.sandbox === true ? { ...rest, sandbox: true as const } : rest;
  return includeSdp ? { ...marked, sdpOffer, sdpAnswer } : marked;
}
