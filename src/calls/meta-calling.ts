// Number-level Meta calling features: settings, call permissions, permission requests and replies.

import { createHash } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { ApiError } from '../errors.ts';
import type { EventId, NumberId } from '../ids.ts';
import { type NumberRecord, speaksMetaModel } from '../model/number.ts';
import type { PermissionReply } from '../model/permission.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { MetaCallingFeatures, ProviderFailure } from '../providers/types.ts';
import type { Db, OnStored } from '../store/db.ts';
import { eventExists } from '../store/events.ts';
import { getNumberById, mergeNumberPublicConfig } from '../store/numbers.ts';
import { listReceivingWebhooksForNumber } from '../store/webhooks.ts';
import { persistSideEvent } from './outbox.ts';
import { featureNotSupported, META_MODEL_ONLY, providerDetails, providerError } from './provider-errors.ts';

export class MetaCalling {
  readonly #db: Db;
  readonly #meta: MetaCallingFeatures | null;
  /** Every number's adapter: a web number's says why these features are not there. */
  readonly #providers: ProviderRegistry;
  readonly #clock: Clock;

  constructor(deps: { db: Db; meta: MetaCallingFeatures | null; providers: ProviderRegistry; clock: Clock }) {
    this.#db = deps.db;
    this.#meta = deps.meta;
    this.#providers = deps.providers;
    this.#clock = deps.clock;
  }

  async #metaNumber(numberId: NumberId): Promise<{ number: NumberRecord; meta: MetaCallingFeatures }> {
    const number = await getNumberById(this.#db, numberId);
    if (!number) {
      throw new ApiError('UNAUTHORIZED');
    }
    if (!speaksMetaModel(number.provider) || !this.#meta) {
      throw featureNotSupported(this.#providers(number), META_MODEL_ONLY);
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
      throw settingsRefused(result) ?? providerError(result, 'other');
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

  /**
   * Meta first, then `onSent` (the request's Idempotency-Key answer) in a transaction of its own, at once: nothing
   * here is stored but that answer, and a message cannot be unsent. Written before Meta is asked, a key would hold
   * no messageId to answer a retry with after a crash, and a Meta failure would have to undo it.
   */
  async requestPermission(
    numberId: NumberId,
    to: string,
    text: string | null,
    onSent?: OnStored<{ messageId: string }>,
  ): Promise<{ messageId: string }> {
    const { number, meta } = await this.#metaNumber(numberId);
    const result = await meta.requestPermission(number, to.replace(/\D/g, ''), text);
    if (!result.ok) {
      throw providerError(result, 'other');
    }
    if (onSent) {
      // The message is sent: a failed write still answers 200 (an error would have the client send it again), and
      // the answer is written again once the response is made, then retried until the store takes it.
      await this.#db.transaction((tx) => onSent(tx, result.value)).catch(() => undefined);
    }
    return result.value;
  }

  /**
   * Pilot's `calls` event: Meta's raw `calls` value as `{event:"calls", data}`, through the same signed, retried
   * outbox. Meta retries its webhooks: the event id derives from the value, so a retry finds it and adds nothing.
   * False when the value cannot be written as JSON (nested deeper than JSON.stringify goes): it is not forwarded.
   */
  async forwardRawCalls(number: NumberRecord, value: Record<string, unknown>): Promise<boolean> {
    // Asked first: most numbers have no such webhook, and the value need not be written out for them.
    if (!(await wantsRawCalls(this.#db, number.id))) {
      return true;
    }
    let json: string;
    try {
      json = JSON.stringify(value);
    } catch {
      // A value JSON.parse took yet JSON.stringify overflows on: thrown, it failed the POST Meta then retried forever.
      return false;
    }
    const digest = createHash('sha256').update(`${number.id}:calls:${json}`).digest('hex');
    const id = `evt_${digest.slice(0, 26).toUpperCase()}` as EventId;
    await this.#db.transaction(async (tx) => {
      if (await eventExists(tx, id)) {
        return;
      }
      const now = this.#clock.now().toISOString();
      await persistSideEvent(
        tx,
        {
          id,
          tenantId: number.tenantId,
          numberId: number.id,
          callId: null,
          type: 'calls',
          payload: { event: 'calls', eventId: id, occurredAt: now, data: value },
          occurredAt: now,
        },
        now,
      );
    });
    return true;
  }

  /**
   * Meta's account_settings_update: the number's calling settings as Meta now holds them, kept on the number.
   * False when they cannot be written as JSON (nested deeper than JSON.stringify goes): they are not kept.
   */
  async recordAccountSettings(number: NumberRecord, calling: Record<string, unknown>): Promise<boolean> {
    try {
      JSON.stringify(calling);
    } catch {
      // JSON.parse took it; thrown while storing, it failed the POST Meta then retried forever.
      return false;
    }
    const now = this.#clock.now().toISOString();
    await mergeNumberPublicConfig(this.#db, number.id, { callingSettings: calling, callingSettingsAt: now }, now);
    return true;
  }

  /** The user's reply becomes a call.permission_updated event, delivered like every other event. */
  async recordPermissionReply(number: NumberRecord, reply: PermissionReply): Promise<void> {
    await this.#db.transaction(async (tx) => {
      // Meta retries deliveries: the event id derives from the reply's message id, so a retry finds it.
      const id =
        `evt_${createHash('sha256').update(`${number.id}:${reply.messageId}`).digest('hex').slice(0, 26).toUpperCase()}` as EventId;
      if (await eventExists(tx, id)) {
        return;
      }
      const now = this.#clock.now().toISOString();
      const payload = {
        event: 'call.permission_updated',
        eventId: id,
        occurredAt: reply.at,
        numberId: number.id,
        peerNumber: reply.peerNumber,
        ...(reply.peerUserId !== null ? { peerUserId: reply.peerUserId } : {}),
        status: reply.status,
        ...(reply.expiresAt ? { expiresAt: reply.expiresAt } : {}),
      };
      await persistSideEvent(
        tx,
        {
          id,
          tenantId: number.tenantId,
          numberId: number.id,
          callId: null,
          type: 'call.permission_updated',
          payload,
          occurredAt: reply.at,
        },
        now,
      );
    });
  }
}

/** Only numbers with a webhook that asked for it get the raw event: it carries SDPs and is written per webhook. */
async function wantsRawCalls(db: Db, numberId: NumberId): Promise<boolean> {
  return (await listReceivingWebhooksForNumber(db, numberId)).some(
    (w) => w.events.includes('calls') || w.events.includes('*'),
  );
}

/** Meta 138015: enabling calling needs a messaging limit of 2,000 business-initiated conversations a day. */
const LOW_TIER = 138015;

/** Meta refusing the settings themselves is the caller's to fix: a 400 with Meta's reason (Pilot). */
function settingsRefused(f: ProviderFailure): ApiError | null {
  if (f.category !== 'INVALID_REQUEST' && f.category !== 'CONFIG') {
    return null;
  }
  const message =
    f.providerCode === LOW_TIER
      ? "Calling cannot be enabled: the number's messaging limit is below 2,000 conversations a day (Meta 138015)"
      : `Meta refused the settings: ${f.providerMessage}`;
  return new ApiError('VALIDATION_ERROR', {
    message,
    details: providerDetails(f),
  });
}
