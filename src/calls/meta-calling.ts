// Number-level Meta calling features: settings, call permissions, permission requests and replies.

import { createHash } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { ApiError } from '../errors.ts';
import type { EventId, NumberId } from '../ids.ts';
import type { MetaCallingFeatures } from '../providers/types.ts';
import type { Db } from '../store/db.ts';
import { enqueueDeliveries } from '../store/deliveries.ts';
import { enqueueEvent } from '../store/events.ts';
import { getNumberById, type NumberRecord, speaksMetaModel } from '../store/numbers.ts';
import { featureNotSupported, providerError } from './provider-errors.ts';

export type PermissionStatus = 'NO_PERMISSION' | 'TEMPORARY' | 'PERMANENT';
export interface PermissionReply {
  peerNumber: string;
  status: PermissionStatus;
  expiresAt: string | null;
  messageId: string;
  at: string;
}

export class MetaCalling {
  readonly #db: Db;
  readonly #meta: MetaCallingFeatures | null;
  readonly #clock: Clock;

  constructor(deps: { db: Db; meta: MetaCallingFeatures | null; clock: Clock }) {
    this.#db = deps.db;
    this.#meta = deps.meta;
    this.#clock = deps.clock;
  }

  async #metaNumber(numberId: NumberId): Promise<{ number: NumberRecord; meta: MetaCallingFeatures }> {
    const number = await getNumberById(this.#db, numberId);
    if (!number) {
      throw new ApiError('UNAUTHORIZED');
    }
    if (!speaksMetaModel(number.provider) || !this.#meta) {
      throw featureNotSupported(number.provider);
    }
    return { number, meta: this.#meta };
  }

  async getSettings(numberId: NumberId): Promise<Record<string, unknown>> {
    const { number, meta } = await this.#metaNumber(numberId);
    const result = await meta.getSettings(number);
    if (!result.ok) {
      throw providerError(result, 'other');
    }
    return result.value;
  }

  /** Partial at the `calling` level; every object given replaces Meta's whole (call_hours included). */
  async updateSettings(numberId: NumberId, calling: Record<string, unknown>): Promise<Record<string, unknown>> {
    if ('sip' in calling) {
      throw new ApiError('VALIDATION_ERROR', {
        details: { reason: 'calling.sip cannot be set here: enabling SIP turns the calling API off' },
      });
    }
    const { number, meta } = await this.#metaNumber(numberId);
    const result = await meta.updateSettings(number, { calling });
    if (!result.ok) {
      throw providerError(result, 'other');
    }
    return this.getSettings(numberId);
  }

  async getPermissions(numberId: NumberId, to: string): Promise<Record<string, unknown>> {
    const { number, meta } = await this.#metaNumber(numberId);
    const result = await meta.getPermissions(number, to.replace(/\D/g, ''));
    if (!result.ok) {
      throw providerError(result, 'other');
    }
    return result.value;
  }

  async requestPermission(numberId: NumberId, to: string, text: string | null): Promise<{ messageId: string }> {
    const { number, meta } = await this.#metaNumber(numberId);
    const result = await meta.requestPermission(number, to.replace(/\D/g, ''), text);
    if (!result.ok) {
      throw providerError(result, 'other');
    }
    return result.value;
  }

  /** The user's reply becomes a call.permission_updated event, delivered like every other event. */
  async recordPermissionReply(number: NumberRecord, reply: PermissionReply): Promise<void> {
    await this.#db.transaction(async (tx) => {
      // Meta retries deliveries: the event id derives from the reply's message id, so a retry finds it.
      const id =
        `evt_${createHash('sha256').update(`${number.id}:${reply.messageId}`).digest('hex').slice(0, 26).toUpperCase()}` as EventId;
      if ((await tx.query('SELECT id FROM events WHERE id = $1', [id])).length) {
        return;
      }
      const now = this.#clock.now().toISOString();
      const payload = {
        event: 'call.permission_updated',
        eventId: id,
        occurredAt: reply.at,
        numberId: number.id,
        peerNumber: reply.peerNumber,
        status: reply.status,
        ...(reply.expiresAt ? { expiresAt: reply.expiresAt } : {}),
      };
      await enqueueEvent(tx, {
        id,
        tenantId: number.tenantId,
        numberId: number.id,
        callId: null,
        type: 'call.permission_updated',
        sequence: null,
        payload,
        occurredAt: reply.at,
        createdAt: now,
      });
      await enqueueDeliveries(tx, {
        id,
        numberId: number.id,
        type: 'call.permission_updated',
        callId: null,
        sequence: null,
        createdAt: now,
      });
    });
  }
}
