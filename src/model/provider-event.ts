// Provider events in domain words: what the adapters parse webhooks into and the machine consumes.

import type { Direction } from './call.ts';

/** Providers stamp events in whole seconds, rounded down. */
const TIMESTAMP_RESOLUTION_MS = 1000;

/**
 * When a call began ringing, for its ring timeout: an inbound call's `startedAt` is its offer's stamp, up to a second
 * earlier than the call really began, so it is judged from a second later; an outbound one starts at our own time.
 */
export function ringStartMs(startedAt: string, direction: Direction): number {
  return Date.parse(startedAt) + (direction === 'INBOUND' ? TIMESTAMP_RESOLUTION_MS : 0);
}

/** What the provider told us, already translated out of provider words. */
export type ProviderCallEvent =
  | {
      type: 'offer';
      externalCallId: string;
      /** null: the provider named the caller only by a user id or a LID. */
      peerNumber: string | null;
      peerUserId?: string | null;
      peerLid?: string | null;
      at: string;
      sdpOffer: string | null;
      bizOpaqueCallbackData: string | null;
    }
  | { type: 'answer-sdp'; externalCallId: string; at: string; sdp: string | null }
  | {
      type: 'progress';
      externalCallId: string;
      at: string;
      status: 'RINGING' | 'ACCEPTED' | 'REJECTED';
      /** REJECTED: the provider's own word for it, kept as endReason. */
      reason?: string | null;
    }
  | { type: 'end'; externalCallId: string; at: string; end: ProviderEnd };

export interface ProviderEnd {
  /** Authoritative answer/end times and duration, present only for answered calls. */
  startTime: string | null;
  endTime: string | null;
  duration: number | null;
  /** The provider reported an error (Meta errors[] / FAILED with errors). */
  errorCode: string | null;
  /**
   * Providers that name every end (Evolution's `Reason`): the raw reason, kept as endReason whoever ended the call
   * (null when empty). Unset, endReason is the errorCode.
   */
  reason?: string | null;
  /** Who ended it, when the provider's reason says so; unset: SYSTEM with an errorCode, else PEER. */
  endedBy?: 'PEER' | 'BUSINESS' | 'SYSTEM';
  /** Declined while ringing (Evolution `rejected`, `rejected_elsewhere`): REJECTED, not MISSED. */
  declined?: boolean;
}
