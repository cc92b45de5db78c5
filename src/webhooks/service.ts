// Webhook registrations as the API sees them: scope rules, URL checks, secrets sealed on the way in
// and shown only at creation and rotation, the delivery log and replays.
import type { Principal } from '../auth/principal.ts';
import type { SecretBox } from '../auth/secret-box.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { ApiError } from '../errors.ts';
import { type NumberId, newWebhookId } from '../ids.ts';
import type { Db, OnStored } from '../store/db.ts';
import {
  failUnsubscribedDeliveries,
  holdDeliveriesOfWebhook,
  releaseHeldDeliveries,
  requeueDelivery,
  subscribes,
} from '../store/deliveries.ts';
import { lastAttemptTimes, listAttemptsForWebhook } from '../store/delivery-attempts.ts';
import { findEventForNumber } from '../store/events.ts';
import { getNumberForTenant } from '../store/numbers.ts';
import {
  deleteWebhookInScope,
  getWebhookInScope,
  insertWebhookWithinLimit,
  listWebhooksInScope,
  updateWebhook,
  type WebhookRecord,
  type WebhookScope,
} from '../store/webhooks.ts';
import { emittable } from './event-names.ts';
import { afterRotation, parsePreviousSecrets } from './previous-secrets.ts';
import { holdSpanMs } from './retry-schedule.ts';
import { generateWebhookSecret } from './signing.ts';
import { checkPublicUrl, type HostLookup, refusalReason } from './url-guard.ts';

/** For 24 h after a rotation both the old and the new secret sign every delivery. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;

export interface WebhookServiceDeps {
  db: Db;
  box: SecretBox;
  clock: Clock;
  config: Pick<Config, 'webhookAllowInsecureUrls' | 'webhooksPerNumber' | 'webhookRetryScheduleMs'>;
  /** DNS for the registration-time SSRF check; tests inject one. */
  lookup?: HostLookup;
  /** Called after a replay is queued (the in-process worker's wake-up). */
  onQueued?: () => void;
}

export interface NewWebhook {
  url: string;
  name?: string;
  /** Omitted or empty: the webhook is stored and dispatches nothing (Pilot). */
  events?: string[];
  whatsappNumberId?: string;
}
export interface WebhookPatch {
  url?: string;
  name?: string;
  events?: string[];
  active?: boolean;
}

/** The public view: never a secret. Pilot's fields (whatsappNumberIds, lastTriggered, tenantId) beside ours. */
export function toPublicWebhook(w: WebhookRecord, lastTriggered: string | null = null) {
  return {
    id: w.id,
    name: w.name,
    url: w.url,
    events: w.events,
    active: w.active,
    whatsappNumberId: w.numberId,
    whatsappNumberIds: [w.numberId],
    tenantId: w.tenantId,
    lastTriggered,
    disabledReason: w.disabledReason,
    createdAt: w.createdAt,
    updatedAt: w.updatedAt,
  };
}

/** A webhook just registered, with its signing secret (shown this once). */
export type CreatedWebhook = ReturnType<typeof toPublicWebhook> & { secret: string };

function scopeOf(p: Principal): WebhookScope {
  return { tenantId: p.tenantId, numberId: p.numberId };
}

export class WebhookService {
  readonly #d: WebhookServiceDeps;
  constructor(deps: WebhookServiceDeps) {
    this.#d = deps;
  }

  async create(p: Principal, input: NewWebhook, onStored?: OnStored<CreatedWebhook>): Promise<CreatedWebhook> {
    const numberId = await this.#numberForCreate(p, input.whatsappNumberId);
    const url = await this.#checkUrl(input.url);
    const secret = generateWebhookSecret();
    const now = this.#d.clock.now().toISOString();
    const webhook: WebhookRecord = {
      id: newWebhookId(),
      tenantId: p.tenantId,
      numberId,
      name: input.name ?? new URL(url).hostname,
      url,
      events: emittable(input.events ?? []),
      active: true,
      secret: this.#d.box.seal(secret),
      previousSecret: null,
      previousSecretExpiresAt: null,
      disabledReason: null,
      createdAt: now,
      updatedAt: now,
    };
    const created = { ...toPublicWebhook(webhook), secret };
    const limit = this.#d.config.webhooksPerNumber;
    if (!(await insertWebhookWithinLimit(this.#d.db, webhook, limit, onStored && ((tx) => onStored(tx, created))))) {
      throw new ApiError('WEBHOOK_LIMIT_REACHED', { details: { limit } });
    }
    return created;
  }

  /**
   * `numberId` (a tenant key's x-whatsapp-number-id) narrows this and every call below to one of the tenant's
   * numbers: another number's webhook is then WEBHOOK_NOT_FOUND, an unknown number NUMBER_NOT_FOUND.
   */
  async list(p: Principal, numberId?: string) {
    const webhooks = await listWebhooksInScope(this.#d.db, await this.#scope(p, numberId));
    const last = await lastAttemptTimes(
      this.#d.db,
      webhooks.map((w) => w.id),
    );
    return webhooks.map((w) => toPublicWebhook(w, last.get(w.id) ?? null));
  }

  async get(p: Principal, id: string, numberId?: string) {
    return this.#withLastTriggered(await this.#find(p, id, numberId));
  }

  async update(p: Principal, id: string, patch: WebhookPatch, numberId?: string) {
    const scope = await this.#scope(p, numberId);
    await this.#find(p, id, numberId);
    // The URL's DNS check stays outside the transaction; the row is read again, locked, to be changed.
    const url = patch.url === undefined ? undefined : await this.#checkUrl(patch.url);
    const now = this.#d.clock.now();
    const { current, next } = await this.#d.db.transaction(async (tx) => {
      const current = await getWebhookInScope(tx, scope, id, { lock: true });
      if (!current) {
        throw new ApiError('WEBHOOK_NOT_FOUND');
      }
      const next: WebhookRecord = { ...current, updatedAt: now.toISOString() };
      if (url !== undefined) {
        next.url = url;
      }
      if (patch.name !== undefined) {
        next.name = patch.name;
      }
      if (patch.events !== undefined) {
        next.events = emittable(patch.events);
      }
      if (patch.active !== undefined) {
        next.active = patch.active;
        // Turning it on again is the customer saying the receiver is back: the 410 note goes.
        if (patch.active) {
          next.disabledReason = null;
        }
      }
      await updateWebhook(tx, next);
      if (patch.events !== undefined) {
        await failUnsubscribedDeliveries(tx, next.id, next.events, now.toISOString());
      }
      if (current.active && !next.active) {
        await holdDeliveriesOfWebhook(tx, next.id, now.toISOString());
      } else if (!current.active && next.active) {
        const span = holdSpanMs(this.#d.config.webhookRetryScheduleMs);
        await releaseHeldDeliveries(tx, next.id, now.toISOString(), new Date(now.getTime() - span).toISOString());
      }
      return { current, next };
    });
    if (!current.active && next.active) {
      this.#d.onQueued?.();
    }
    return this.#withLastTriggered(next);
  }

  async delete(p: Principal, id: string, numberId?: string): Promise<void> {
    if (!(await deleteWebhookInScope(this.#d.db, await this.#scope(p, numberId), id))) {
      throw new ApiError('WEBHOOK_NOT_FOUND');
    }
  }

  /**
   * A new secret, shown once; the current one keeps signing too until previousSecretExpiresAt, and so do those
   * replaced by earlier rotations until their own 24 h are over (previous-secrets.ts).
   */
  async rotateSecret(p: Principal, id: string, numberId?: string) {
    const scope = await this.#scope(p, numberId);
    const now = this.#d.clock.now();
    const secret = generateWebhookSecret();
    const previousSecretExpiresAt = new Date(now.getTime() + ROTATION_OVERLAP_MS).toISOString();
    // Read and written under one lock: a 410 or a PATCH landing meanwhile is kept, and of two rotations at once the
    // later one takes the earlier one's secret as a previous one, so every secret shown signs.
    const { current, replacedSigns } = await this.#d.db.transaction(async (tx) => {
      const current = await getWebhookInScope(tx, scope, id, { lock: true });
      if (!current) {
        throw new ApiError('WEBHOOK_NOT_FOUND');
      }
      const replaced = this.#readable(() => this.#d.box.open(current.secret));
      const earlier =
        this.#readable(() =>
          parsePreviousSecrets(
            current.previousSecret === null ? null : this.#d.box.open(current.previousSecret),
            current.previousSecretExpiresAt,
          ),
        ) ?? [];
      const previous =
        replaced === null
          ? { list: earlier, latestExpiresAt: current.previousSecretExpiresAt }
          : afterRotation(earlier, replaced, previousSecretExpiresAt, now.getTime());
      await updateWebhook(tx, {
        ...current,
        secret: this.#d.box.seal(secret),
        previousSecret: previous.list.length > 0 ? this.#d.box.seal(JSON.stringify(previous.list)) : null,
        previousSecretExpiresAt: previous.list.length > 0 ? previous.latestExpiresAt : null,
        updatedAt: now.toISOString(),
      });
      return { current, replacedSigns: replaced !== null };
    });
    // An unreadable secret signs no more: its overlap is over as of now, and the answer says so.
    return {
      id: current.id,
      secret,
      previousSecretExpiresAt: replacedSigns ? previousSecretExpiresAt : now.toISOString(),
    };
  }

  /**
   * What a stored secret (or list of them) opens to, or null when it cannot be read: sealed under an earlier
   * SECRET_KEY, or corrupt. Such secrets cannot sign any more; rotating is how the webhook recovers, so they are
   * left behind rather than failing the rotation.
   */
  #readable<T>(read: () => T): T | null {
    try {
      return read();
    } catch {
      return null;
    }
  }

  async logs(p: Principal, id: string, opts: { limit: number; event: string | null; numberId?: string }) {
    const webhook = await this.#find(p, id, opts.numberId);
    const attempts = await listAttemptsForWebhook(this.#d.db, webhook.id, { limit: opts.limit, eventType: opts.event });
    return attempts.map((a) => ({
      id: a.id,
      event: a.eventType,
      eventId: a.eventId,
      attempt: a.attempt,
      status: a.status,
      statusCode: a.statusCode,
      // Pilot's log shows what was sent and what came back.
      payload: a.payload,
      response: a.responseBody === null ? null : firstBytes(a.responseBody, RESPONSE_LOG_BYTES),
      durationMs: a.durationMs,
      nextAttemptAt: a.nextAttemptAt,
      ...(a.error !== null ? { error: a.error } : {}),
      createdAt: a.createdAt,
    }));
  }

  /** Delivers one past event of the webhook's number again, with the same webhook-id, from attempt 1. */
  async replay(p: Principal, id: string, eventId: string, numberId?: string) {
    const webhook = await this.#find(p, id, numberId);
    const event = await findEventForNumber(this.#d.db, webhook.numberId, eventId);
    if (!event) {
      throw new ApiError('EVENT_NOT_FOUND');
    }
    // A replay delivers again what the webhook takes: never a type it filtered out.
    if (!subscribes(webhook.events, event.type)) {
      throw new ApiError('VALIDATION_ERROR', {
        details: { field: 'eventId', reason: `this webhook does not subscribe to ${event.type} events` },
      });
    }
    const queued = await requeueDelivery(
      this.#d.db,
      {
        webhookId: webhook.id,
        eventId: event.id,
        eventType: event.type,
        callId: event.callId,
        sequence: event.sequence,
      },
      this.#d.clock.now().toISOString(),
    );
    if (!queued) {
      throw new ApiError('WEBHOOK_NOT_FOUND'); // deleted since it was read
    }
    if (webhook.active) {
      this.#d.onQueued?.();
    } else {
      // Paused: the replay waits with the rest for the resume.
      await holdDeliveriesOfWebhook(this.#d.db, webhook.id, this.#d.clock.now().toISOString());
    }
    return { webhookId: webhook.id, eventId: event.id, event: event.type, status: 'PENDING' as const };
  }

  async #withLastTriggered(w: WebhookRecord) {
    return toPublicWebhook(w, (await lastAttemptTimes(this.#d.db, [w.id])).get(w.id) ?? null);
  }

  async #find(p: Principal, id: string, numberId: string | undefined): Promise<WebhookRecord> {
    const webhook = await getWebhookInScope(this.#d.db, await this.#scope(p, numberId), id);
    if (!webhook) {
      throw new ApiError('WEBHOOK_NOT_FOUND');
    }
    return webhook;
  }

  /** What a request may see: a number key its number; a tenant key its tenant, or the one number it names. */
  async #scope(p: Principal, numberId: string | undefined): Promise<WebhookScope> {
    if (p.scope !== 'tenant' || numberId === undefined) {
      return scopeOf(p);
    }
    const number = await getNumberForTenant(this.#d.db, p.tenantId, numberId);
    if (!number) {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
    return { tenantId: p.tenantId, numberId: number.id };
  }

  /** docs/spec/webhooks.md: a tenant key names the number; a number key may, but only its own. */
  async #numberForCreate(p: Principal, named: string | undefined): Promise<NumberId> {
    if (p.scope === 'number') {
      if (named !== undefined && named !== p.numberId) {
        throw new ApiError('NUMBER_MISMATCH');
      }
      return p.numberId;
    }
    if (named === undefined) {
      throw new ApiError('NUMBER_REQUIRED');
    }
    const number = await getNumberForTenant(this.#d.db, p.tenantId, named);
    if (!number) {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
    return number.id;
  }

  /** https to a public address (unless WEBHOOK_ALLOW_INSECURE_URLS), checked by name and by current DNS answers. */
  async #checkUrl(raw: string): Promise<string> {
    const checked = await checkPublicUrl(raw, this.#d.config.webhookAllowInsecureUrls, this.#d.lookup);
    if (!checked.ok) {
      throw new ApiError('VALIDATION_ERROR', {
        details: { field: 'url', reason: `webhook URL refused: ${refusalReason(checked)}` },
      });
    }
    return checked.url.href;
  }
}

const RESPONSE_LOG_BYTES = 4096;

function firstBytes(text: string, max: number): string {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= max ? text : bytes.subarray(0, max).toString('utf8');
}
