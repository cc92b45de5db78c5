// Single-use tokens for the realtime WebSocket. A token is only a bearer of "this call, this mode" for 60 s: it
// lives in the memory of the process that owns the call's media (a restart drops open sessions anyway), is
// stored as its SHA-256 so a heap dump cannot replay it, and is deleted when redeemed.

import { createHash, randomBytes } from 'node:crypto';

export const REALTIME_TOKEN_TTL_SECONDS = 60;

export type RealtimeMode = 'talk' | 'listen';

export interface RealtimeGrant {
  callId: string;
  numberId: string;
  mode: RealtimeMode;
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export class RealtimeTokens {
  private readonly grants = new Map<string, RealtimeGrant & { expiresAt: number }>();
  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  issue(grant: RealtimeGrant): { token: string; expiresInSeconds: number } {
    this.purge();
    const token = `rt_${randomBytes(24).toString('base64url')}`;
    this.grants.set(digest(token), { ...grant, expiresAt: this.now() + REALTIME_TOKEN_TTL_SECONDS * 1000 });
    return { token, expiresInSeconds: REALTIME_TOKEN_TTL_SECONDS };
  }

  /** The grant, once: a second redemption, an unknown or an expired token all get null. */
  redeem(token: string): RealtimeGrant | null {
    const key = digest(token);
    const found = this.grants.get(key);
    this.grants.delete(key);
    if (!found || found.expiresAt <= this.now()) {
      return null;
    }
    return { callId: found.callId, numberId: found.numberId, mode: found.mode };
  }

  /** Tokens of a call that ended are worthless; drop them so they cannot open a socket on a dead session. */
  revokeCall(callId: string): void {
    for (const [key, grant] of this.grants) {
      if (grant.callId === callId) {
        this.grants.delete(key);
      }
    }
  }

  get size(): number {
    return this.grants.size;
  }

  private purge(): void {
    const now = this.now();
    for (const [key, grant] of this.grants) {
      if (grant.expiresAt <= now) {
        this.grants.delete(key);
      }
    }
  }
}
