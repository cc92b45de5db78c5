// Provider events in domain words: what the adapters parse webhooks into and the machine consumes.

/**
 * Providers stamp events in whole seconds, rounded down: an inbound call's `startedAt` (its offer's stamp) may be up
 * to this much earlier than the call really began, so its ring time is judged that much later.
 */
export const TIMESTAMP_RESOLUTION_MS = 1000;

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
