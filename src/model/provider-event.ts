// Provider events in domain words: what the adapters parse webhooks into and the machine consumes.

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
  | { type: 'progress'; externalCallId: string; at: string; status: 'RINGING' | 'ACCEPTED' | 'REJECTED' }
  | { type: 'end'; externalCallId: string; at: string; end: ProviderEnd };

export interface ProviderEnd {
  /** Authoritative answer/end times and duration, present only for answered calls. */
  startTime: string | null;
  endTime: string | null;
  duration: number | null;
  /** The provider reported an error (Meta errors[] / FAILED with errors). */
  errorCode: string | null;
}
