// The realtime side of this process's media: which calls can take a WebSocket right now (their sessions register
// here while media runs) and the tokens that open one. A token is only issued for a call registered here, and
// redeeming one for a call that has since ended finds nothing.

import { HEARTBEAT_MS } from './realtime-socket.ts';
import type { RealtimeTarget } from './realtime-target.ts';
import { type RealtimeGrant, type RealtimeMode, RealtimeTokens } from './realtime-tokens.ts';

/** The complete URL a client connects to as given; `format=twilio` is the default a client may override by appending. */
export function realtimeWsUrl(wsBaseUrl: string, token: string): string {
  return `${wsBaseUrl.replace(/\/+$/, '')}/v1/media/realtime?token=${encodeURIComponent(token)}&format=twilio`;
}

/** This process's realtime sockets, for the metrics. */
export interface RealtimeTally {
  open: number;
  /** Frames of the caller not sent to a client that was not reading (realtime-socket.ts). */
  framesDropped: number;
}

export class RealtimeHub {
  readonly tokens: RealtimeTokens;
  readonly tally: RealtimeTally = { open: 0, framesDropped: 0 };
  /** How often each socket is pinged (realtime-socket.ts); tests shorten it. */
  heartbeatMs = HEARTBEAT_MS;
  private readonly targets = new Map<string, { numberId: string; target: RealtimeTarget }>();

  constructor(now: () => number) {
    this.tokens = new RealtimeTokens(now);
  }

  /** A session offers its call to realtime clients; the returned function withdraws it (and its tokens). */
  register(numberId: string, target: RealtimeTarget): () => void {
    const entry = { numberId, target };
    this.targets.set(target.callId, entry);
    return () => {
      if (this.targets.get(target.callId) === entry) {
        this.targets.delete(target.callId);
      }
      this.tokens.revokeCall(target.callId);
    };
  }

  hasCall(numberId: string, callId: string): boolean {
    return this.targets.get(callId)?.numberId === numberId;
  }

  /** A token for a call of this number whose media runs here; null otherwise (the caller answers 404/409). */
  issue(numberId: string, callId: string, mode: RealtimeMode): { token: string; expiresInSeconds: number } | null {
    if (!this.hasCall(numberId, callId)) {
      return null;
    }
    return this.tokens.issue({ callId, numberId, mode });
  }

  /** Redeems a token (once) and finds its call's media. */
  open(token: string): { grant: RealtimeGrant; target: RealtimeTarget } | null {
    const grant = this.tokens.redeem(token);
    if (!grant) {
      return null;
    }
    const entry = this.targets.get(grant.callId);
    return entry && entry.numberId === grant.numberId ? { grant, target: entry.target } : null;
  }
}
