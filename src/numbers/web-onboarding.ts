// Web numbers onboarded by QR (docs/spec/pilot-compat.md §5): with an Evolution Go server configured for callgate,
// Pilot's POST /v1/numbers {name, number} creates the instance (rejectCall off), subscribes it to CALL and
// CONNECTION with our webhook, and hands out the QR; status and connect follow Pilot.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { issueKey } from '../auth/keys.ts';
import type { Principal } from '../auth/principal.ts';
import type { SecretBox } from '../auth/secret-box.ts';
import { providerError } from '../calls/provider-errors.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { ApiError } from '../errors.ts';
import { type NumberId, newNumberId, type TenantId } from '../ids.ts';
import type { NumberRecord } from '../model/number.ts';
import { EVOLUTION_RATE_LIMIT_RETRY_AFTER_SECONDS, isEvolutionCallersMistake } from '../providers/evolution/client.ts';
import { EvolutionInstances, type InstanceQr } from '../providers/evolution/instances.ts';
import { sameSubscriber, subscriberDigits } from '../providers/evolution/webhook.ts';
import type { EvolutionSecrets, ProviderFailure } from '../providers/types.ts';
import { insertApiKey } from '../store/api-keys.ts';
import type { Db, OnStored } from '../store/db.ts';
import { findWebNumbersByPhone, getNumberForTenant, insertNumber, mergeNumberPublicConfig } from '../store/numbers.ts';
import { statusPatch } from './connection-state.ts';
import { type NumberState, type PublicNumber, stateOf, toPublicNumber } from './service.ts';

export interface WebOnboardingDeps {
  db: Db;
  box: SecretBox;
  clock: Clock;
  config: Pick<Config, 'evolutionServer' | 'publicBaseUrl' | 'providerTimeoutMs' | 'evolutionAllowedHosts'>;
  logger: Logger;
}

/** Pilot's body: a name, the phone number to pair, and whether to issue the number's key now (default yes). */
export interface NewWebNumber {
  name: string;
  number: string;
  linkToApiKey?: boolean;
}

export const QR_ONBOARDING_OFF =
  'Web numbers by QR need an Evolution Go server configured for callgate (EVOLUTION_BASE_URL and ' +
  'EVOLUTION_GLOBAL_API_KEY); otherwise register the number with its own instance (provider EVO_GO, evolution {…}).';

/** POST /v1/numbers's 201 for a web number. */
export interface CreatedWebNumber extends InstanceQr {
  number: PublicNumber;
  instance: { id: NumberId; name: string; number: string; state: 'CONNECTING' };
  apiKey?: { id: string; key: string };
  qrcodeBase64: string | null;
  pairingCode: null;
}

/** A created web number's QR fields when there is none yet (a connect gives one). */
const NO_QR = { qrcode: null, code: null, qrcodeBase64: null, pairingCode: null } as const;

export class WebOnboarding {
  readonly #d: WebOnboardingDeps;
  readonly #instances: EvolutionInstances;
  constructor(deps: WebOnboardingDeps) {
    this.#d = deps;
    this.#instances = new EvolutionInstances(deps.config.providerTimeoutMs, deps.config.evolutionAllowedHosts);
  }

  async create(
    tenantId: TenantId,
    input: NewWebNumber,
    origin: string,
    onStored?: OnStored<CreatedWebNumber>,
  ): Promise<CreatedWebNumber> {
    const server = this.#d.config.evolutionServer;
    if (!server) {
      throw new ApiError('FEATURE_NOT_SUPPORTED', { message: QR_ONBOARDING_OFF });
    }
    const digits = input.number.replace(/\D/g, '');
    const id = newNumberId();
    const instanceName = `callgate-${id}`;
    const instanceToken = randomBytes(24).toString('base64url');
    const webhookUrl = this.#webhookUrl(id, origin);
    const created = await this.#instances.create(server.baseUrl, server.globalApiKey, {
      name: instanceName,
      token: instanceToken,
    });
    if (!created.ok) {
      throw onboardingError(created);
    }
    const now = this.#d.clock.now().toISOString();
    const number: NumberRecord = {
      id,
      tenantId,
      name: input.name,
      phoneNumber: `+${digits}`,
      provider: 'EVO_GO',
      metaPhoneNumberId: null,
      publicConfig: {
        baseUrl: server.baseUrl,
        instanceId: created.value.instanceId,
        instanceName,
        publicWsBaseUrl: null,
        state: 'CONNECTING' satisfies NumberState,
        onboardedByQr: true,
        // Kept: a reconnect subscribes the instance to this URL again, whoever asks and whatever Host they send.
        webhookUrl,
      },
      secretConfig: this.#d.box.seal(JSON.stringify({ instanceToken } satisfies EvolutionSecrets)),
      createdAt: now,
      updatedAt: now,
    };
    const key = input.linkToApiKey === false ? null : issueKey(tenantId, id, now);
    const made = {
      number: toPublicNumber(number),
      // Pilot's answer names the new number `instance` (its SDK connects with created.instance.id).
      instance: { id, name: input.name, number: digits, state: 'CONNECTING' as const },
      ...(key ? { apiKey: { id: key.id, key: key.key } } : {}),
    };
    await this.#d.db.transaction(async (tx) => {
      await insertNumber(tx, number);
      if (key) {
        await insertApiKey(tx, key.record);
      }
      // The QR comes after the commit: a retry answered with this (the process died first) asks connect for one.
      await onStored?.(tx, { ...made, ...NO_QR });
    });
    // The number and its key exist now: a 502 here would lose the key (shown once) and lead the client to create
    // the number again. Without a subscription or a QR it is answered all the same; connect asks again for both.
    const qr = await this.#subscribeAndQr(number, instanceToken, webhookUrl).catch((err: unknown) => {
      if (!(err instanceof ApiError)) {
        throw err;
      }
      this.#d.logger.warn(
        { numberId: id, code: err.code, details: err.details },
        'web number created without a QR: the Evolution server did not subscribe it or give one; connect asks again',
      );
      return NO_QR;
    });
    return { ...made, ...qr };
  }

  /** Pilot's status: asks the Evolution server (EVO_GO) and keeps what it learned as the number's state. */
  async status(p: Principal, id: string) {
    const number = await this.#find(p, id);
    if (number.provider !== 'EVO_GO') {
      const state = stateOf(number);
      return { id: number.id, state, isFullyConnected: state === 'OPEN' };
    }
    const config = number.publicConfig as { baseUrl: string; instanceId: string };
    const token = this.#token(number);
    const status = await this.#instances.status(config.baseUrl, token);
    if (!status.ok) {
      throw onboardingError(status);
    }
    const rejectCall = await this.#instances.rejectsCalls(config.baseUrl, token, config.instanceId);
    const now = this.#d.clock.now().toISOString();
    // Read against the locked row, as the CONNECTION webhooks are: a logged-out number stays CLOSED.
    let patch = statusPatch(number.publicConfig, status.value, rejectCall.ok ? rejectCall.value : null);
    await mergeNumberPublicConfig(
      this.#d.db,
      number.id,
      (current) => {
        patch = statusPatch(current, status.value, rejectCall.ok ? rejectCall.value : null);
        return patch;
      },
      now,
    );
    const { state, health } = patch;
    return { id: number.id, state, isFullyConnected: state === 'OPEN', health };
  }

  /** Pilot's connect: subscribes the instance again and answers a new QR, or a pairing code for `phone`. */
  /**
   * After DELETE /v1/numbers/{id}: the instance callgate created for a number onboarded by QR is deleted on its
   * server too. Left there it stays a linked device of the business's WhatsApp, keeps its calls going and posts
   * events nobody takes, and every create-delete cycle would add one more. Best effort: the number is gone either way.
   */
  async release(numberId: string, publicConfig: Record<string, unknown>): Promise<void> {
    const server = this.#d.config.evolutionServer;
    const { onboardedByQr, baseUrl, instanceId } = publicConfig;
    if (!server || onboardedByQr !== true || baseUrl !== server.baseUrl || typeof instanceId !== 'string') {
      return; // not ours to delete: an instance the tenant registered, or one on a server no longer configured
    }
    const removed = await this.#instances.remove(server.baseUrl, server.globalApiKey, instanceId);
    if (!removed.ok) {
      this.#d.logger.warn(
        { numberId, instanceId, category: removed.category, providerCode: removed.providerCode },
        'instance of a deleted web number not deleted on the Evolution server; delete it there',
      );
    }
  }

  /**
   * One phone, one web number. When the QR of a number onboarded by QR is scanned, the phone that scanned it is
   * known (Connected/PairSuccess `jid`). It must be the number's own phone (calls are told apart by it), and no
   * other web number, of any tenant, may already be linked to it: WhatsApp would hand every call to both, each
   * recorded and answerable twice. The number linked first keeps the phone; a later link is undone here: the
   * instance is logged out (the phone drops the device) and the number reads CLOSED with a problem that says why.
   * Numbers registered with their own instance are the tenant's to manage and are left as they are.
   */
  async claimPhone(number: NumberRecord, phone: string): Promise<void> {
    const config = number.publicConfig as { onboardedByQr?: unknown; baseUrl?: unknown };
    if (config.onboardedByQr !== true || typeof config.baseUrl !== 'string') {
      return;
    }
    const own = number.phoneNumber.replace(/\D/g, '');
    const problem = sameSubscriber(phone, own)
      ? await this.#heldElsewhere(number, phone)
      : `the QR was scanned with +${phone}, but this number is +${own}: scan it with that phone, or create a number for +${phone}`;
    if (problem === null) {
      return;
    }
    const now = this.#d.clock.now().toISOString();
    await mergeNumberPublicConfig(
      this.#d.db,
      number.id,
      (current) => ({
        state: 'CLOSED' satisfies NumberState,
        pairedAt: null,
        health: {
          ...(isRecord(current.health) ? current.health : {}),
          connected: false,
          loggedIn: false,
          problem,
        },
      }),
      now,
    );
    this.#d.logger.warn({ numberId: number.id, problem }, 'web number linked to a phone it may not have: logged out');
    const out = await this.#instances.logout(config.baseUrl, this.#token(number));
    if (!out.ok) {
      this.#d.logger.warn(
        { numberId: number.id, category: out.category, providerCode: out.providerCode },
        'the instance of a refused link was not logged out on the Evolution server; log it out on the phone',
      );
    }
  }

  /** Why `number` may not keep `phone`: another web number linked to it first (null: none). */
  async #heldElsewhere(number: NumberRecord, phone: string): Promise<string | null> {
    const mine = await getNumberForTenant(this.#d.db, number.tenantId, number.id);
    const myLink = typeof mine?.publicConfig.pairedAt === 'string' ? mine.publicConfig.pairedAt : null;
    const others = await findWebNumbersByPhone(this.#d.db, phoneSpellings(phone), number.id);
    const first = others.find((other) => {
      const theirs = other.publicConfig.pairedAt;
      const health = other.publicConfig.health;
      const linked = typeof theirs === 'string' && !(isRecord(health) && health.loggedIn === false);
      // Linked before this one (ties: the older id). A number only claimed, never linked, holds nothing: a typed
      // phone proves nothing, and must not keep its owner from linking it.
      return linked && (myLink === null || theirs < myLink || (theirs === myLink && other.id < number.id));
    });
    if (!first) {
      return null;
    }
    return first.tenantId === number.tenantId
      ? `this phone is already linked to web number ${first.id}: delete that number (or log it out on the phone), then connect this one again`
      : 'this phone is already linked to a web number of another account: it cannot be linked to two';
  }
  async connect(p: Principal, id: string, phone: string | undefined, origin: string) {
    const number = await this.#find(p, id);
    if (number.provider !== 'EVO_GO') {
      throw new ApiError('FEATURE_NOT_SUPPORTED', {
        message:
          'Only web numbers (EVO_GO) connect by QR or pairing code: a META number is connected by Meta, a SANDBOX number needs no connection.',
      });
    }
    const token = this.#token(number);
    const config = number.publicConfig as { baseUrl: string };
    // A paired, connected instance has no QR to give: it is simply open.
    const status = await this.#instances.status(config.baseUrl, token);
    if (status.ok && status.value.loggedIn && status.value.connected) {
      return { id: number.id, state: 'OPEN' as const, isFullyConnected: true };
    }
    const webhookUrl = await this.#resubscribeUrl(p, number, origin);
    if (phone !== undefined) {
      const subscribed = await this.#instances.subscribe(config.baseUrl, token, webhookUrl);
      if (!subscribed.ok) {
        throw onboardingError(subscribed);
      }
      const pairing = await this.#instances.pairingCode(config.baseUrl, token, phone.replace(/\D/g, ''));
      if (!pairing.ok) {
        throw onboardingError(pairing, true);
      }
      return {
        id: number.id,
        state: 'CONNECTING' as const,
        qrcodeBase64: null,
        pairingCode: pairing.value.pairingCode,
      };
    }
    return { id: number.id, state: 'CONNECTING' as const, ...(await this.#subscribeAndQr(number, token, webhookUrl)) };
  }

  /** The QR under callgate's names and Pilot's (qrcodeBase64; pairingCode is only given for a phone). */
  async #subscribeAndQr(
    number: NumberRecord,
    token: string,
    webhookUrl: string,
  ): Promise<InstanceQr & { qrcodeBase64: string | null; pairingCode: null }> {
    const baseUrl = (number.publicConfig as { baseUrl: string }).baseUrl;
    const subscribed = await this.#instances.subscribe(baseUrl, token, webhookUrl);
    if (!subscribed.ok) {
      throw onboardingError(subscribed);
    }
    const qr = await this.#instances.qr(baseUrl, token);
    if (!qr.ok) {
      throw onboardingError(qr);
    }
    return { ...qr.value, qrcodeBase64: qr.value.qrcode, pairingCode: null };
  }

  #webhookUrl(numberId: NumberId, origin: string): string {
    return `${this.#d.config.publicBaseUrl ?? origin}/providers/evolution/webhook/${numberId}`;
  }

  /**
   * Where a reconnect points the instance's webhooks: PUBLIC_BASE_URL, else the URL chosen at creation. Never the
   * Host of a number key's request: Evolution posts the instance token with every event, so whoever names that
   * host would get the token and the number's calls.
   */
  async #resubscribeUrl(p: Principal, number: NumberRecord, origin: string): Promise<string> {
    if (this.#d.config.publicBaseUrl) {
      return this.#webhookUrl(number.id, origin);
    }
    const stored = (number.publicConfig as { webhookUrl?: unknown }).webhookUrl;
    if (typeof stored === 'string') {
      return stored;
    }
    // A number registered directly, or onboarded before the URL was kept: its tenant's own key names the origin,
    // which is kept from then on for every key.
    if (p.scope !== 'tenant') {
      throw new ApiError('FORBIDDEN', {
        message:
          'This number has no webhook URL on record yet: connect it once with the tenant key, or set PUBLIC_BASE_URL',
      });
    }
    const webhookUrl = this.#webhookUrl(number.id, origin);
    await mergeNumberPublicConfig(this.#d.db, number.id, { webhookUrl }, this.#d.clock.now().toISOString());
    return webhookUrl;
  }

  #token(number: NumberRecord): string {
    return (JSON.parse(this.#d.box.open(number.secretConfig)) as EvolutionSecrets).instanceToken;
  }

  async #find(p: Principal, id: string): Promise<NumberRecord> {
    const number =
      p.scope === 'number' && p.numberId !== id ? null : await getNumberForTenant(this.#d.db, p.tenantId, id);
    if (!number) {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
    return number;
  }
}

/** The Evolution server refusing or failing is the provider's, in callgate's words (a 502 or the config 400). */
/**
 * callersInput: the request carried something the caller gave (the pairing phone), so the server's 400 is theirs to
 * fix. Everything else the server sees (instance name, token, webhook) callgate chose: its 400 is a provider error,
 * not a VALIDATION_ERROR about a body that was valid.
 */
function onboardingError(f: ProviderFailure, callersInput = false): ApiError {
  // The server's 429 is a 429 RATE_LIMITED with its Retry-After, else the 10 s its calls' 429s imply.
  return providerError(f, 'other', {
    rateLimitRetryAfterSeconds: EVOLUTION_RATE_LIMIT_RETRY_AFTER_SECONDS,
    ...(callersInput ? { isCallersMistake: isEvolutionCallersMistake } : {}),
  });
}

/** A phone's E.164 spellings: as given, and with or without its mobile digit (subscriberDigits). */
function phoneSpellings(digits: string): string[] {
  const short = subscriberDigits(digits);
  const spellings = new Set([digits, short]);
  if (short.length === 12 && short.startsWith('55')) {
    spellings.add(`${short.slice(0, 4)}9${short.slice(4)}`);
  } else if (short.length === 12 && (short.startsWith('52') || short.startsWith('54'))) {
    spellings.add(`${short.slice(0, 2)}${short.startsWith('52') ? '1' : '9'}${short.slice(2)}`);
  }
  return [...spellings].map((d) => `+${d}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
