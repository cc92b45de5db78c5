// Numbers and their keys: credentials sealed on the way in, never returned on the way out.
import { randomInt } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import { issueKey } from '../auth/keys.ts';
import type { Principal } from '../auth/principal.ts';
import type { SecretBox } from '../auth/secret-box.ts';
import type { Clock } from '../clock.ts';
import { ApiError } from '../errors.ts';
import { type NumberId, newNumberId, type TenantId } from '../ids.ts';
import type { NumberRecord, ProviderName } from '../model/number.ts';
import { type AllowedHosts, HOST_NOT_ALLOWED, isAllowedHost } from '../providers/evolution/allowed-hosts.ts';
import { parseAudioSpec } from '../providers/sandbox/audio.ts';
import { DEFAULT_SANDBOX_SETTINGS, type SandboxSettings, sandboxSettingsOf } from '../providers/sandbox/settings.ts';
import type { EvolutionSecrets, MetaSecrets } from '../providers/types.ts';
import {
  insertApiKey,
  insertNumberKeyIfAbsentForTenant,
  listNumberKeysForTenant,
  replaceNumberKeyForTenant,
} from '../store/api-keys.ts';
import type { Db, OnStored } from '../store/db.ts';
import {
  deleteNumberForTenant,
  getNumberForTenant,
  insertNumber,
  listNumbersForTenant,
  setNumberRecordCallsForTenant,
} from '../store/numbers.ts';
import { type MetaNumberCheck, metaVerificationRefusal } from './meta-verification.ts';

export interface NewNumber {
  name: string;
  /** Required except on SANDBOX numbers, which get a +99… number when it is omitted. */
  phoneNumber?: string;
  provider: ProviderName;
  meta?: { phoneNumberId: string; wabaId?: string; accessToken: string; appSecret: string; verifyToken: string };
  evolution?: {
    baseUrl: string;
    instanceId: string;
    instanceName?: string;
    instanceToken: string;
    webhookSecret?: string;
    publicWsBaseUrl?: string;
  };
  sandbox?: Partial<SandboxSettings>;
  recordCalls?: boolean;
}

/** What PATCH /v1/numbers/{id} may change. */
export interface NumberSettings {
  recordCalls: boolean;
}

/** Pilot's connection states of a number. */
export const NUMBER_STATES = ['OPEN', 'CONNECTING', 'CLOSED'] as const;
export type NumberState = (typeof NUMBER_STATES)[number];

/**
 * The last connection state learned from the provider (a Graph call's outcome, Evolution's instance status),
 * kept in the public config; a number nothing has been learned about yet counts as OPEN.
 */
export function stateOf(n: NumberRecord): NumberState {
  const stored = n.publicConfig.state;
  return (NUMBER_STATES as readonly unknown[]).includes(stored) ? (stored as NumberState) : 'OPEN';
}

/** The public view of a number (Pilot's state and isFullyConnected beside our fields). */
export function toPublicNumber(n: NumberRecord) {
  const state = stateOf(n);
  return {
    id: n.id,
    name: n.name,
    phoneNumber: n.phoneNumber,
    // Pilot's name for the phone: digits only.
    number: n.phoneNumber.replace(/^\+/, ''),
    provider: n.provider,
    state,
    isFullyConnected: state === 'OPEN',
    // What the last status check of a web number found (paired, connected, rejectCall), where known.
    ...(isRecord(n.publicConfig.health) ? { health: n.publicConfig.health } : {}),
    createdAt: n.createdAt,
    updatedAt: n.updatedAt,
    ...(n.provider === 'META' ? { meta: n.publicConfig } : {}),
    ...(n.provider === 'EVO_GO' ? { evolution: n.publicConfig } : {}),
    sandbox: n.provider === 'SANDBOX',
    ...(n.provider === 'SANDBOX' ? { sandboxSettings: sandboxSettingsOf(n) } : {}),
    recordCalls: n.recordCalls ?? false,
  };
}

/** A number just made, with its key (shown this once). */
export interface CreatedNumber {
  number: PublicNumber;
  apiKey: { id: string; key: string };
}
export type PublicNumber = ReturnType<typeof toPublicNumber>;
/** A number's first key, shown this once. */
export interface CreatedKey {
  numberId: string;
  keyId: string;
  key: string;
}

export class NumberService {
  readonly #db: Db;
  readonly #box: SecretBox;
  readonly #clock: Clock;
  readonly #afterCreate: ((number: NumberRecord) => Promise<void>) | undefined;
  readonly #logger: Logger | undefined;
  readonly #allowInsecureAudioUrls: boolean;
  readonly #evolutionAllowedHosts: AllowedHosts;
  readonly #checkMetaNumber: MetaNumberCheck | null;
  readonly #placingForMs: number;
  constructor(
    db: Db,
    box: SecretBox,
    clock: Clock,
    opts: {
      afterCreate?: (number: NumberRecord) => Promise<void>;
      logger?: Logger;
      /** WEBHOOK_ALLOW_INSECURE_URLS: a sandbox number's audio URL is checked as the simulator will fetch it. */
      allowInsecureAudioUrls?: boolean;
      /** EVOLUTION_ALLOWED_HOSTS: the servers a web number's baseUrl may name (null: any). */
      evolutionAllowedHosts?: AllowedHosts;
      /**
       * Asks Graph whether a META number's token reaches its id before it is stored; null: not asked
       * (META_VERIFY_NUMBERS=false).
       */
      checkMetaNumber: MetaNumberCheck | null;
      /** How long a POST /v1/calls may be placing its call (calls/outbound.ts `placingForMs`). */
      placingForMs: number;
    },
  ) {
    this.#db = db;
    this.#box = box;
    this.#clock = clock;
    this.#afterCreate = opts.afterCreate;
    this.#placingForMs = opts.placingForMs;
    this.#logger = opts.logger;
    this.#allowInsecureAudioUrls = opts.allowInsecureAudioUrls ?? false;
    this.#evolutionAllowedHosts = opts.evolutionAllowedHosts ?? null;
    this.#checkMetaNumber = opts.checkMetaNumber;
  }

  async create(tenantId: TenantId, input: NewNumber, onStored?: OnStored<CreatedNumber>): Promise<CreatedNumber> {
    const now = this.#clock.now().toISOString();
    this.#checkSandboxAudio(input);
    const { publicConfig, secrets, metaPhoneNumberId } = splitConfig(input, this.#evolutionAllowedHosts);
    const number: NumberRecord = {
      id: newNumberId(),
      tenantId,
      name: input.name,
      phoneNumber: phoneNumberOf(input),
      provider: input.provider,
      metaPhoneNumberId,
      publicConfig,
      secretConfig: this.#box.seal(JSON.stringify(secrets)),
      recordCalls: input.recordCalls ?? false,
      createdAt: now,
      updatedAt: now,
    };
    if (input.meta && metaPhoneNumberId !== null) {
      await this.#verifyMeta(metaPhoneNumberId, input.meta.accessToken);
    }
    const key = issueKey(tenantId, number.id, now);
    const apiKey = { id: key.id, key: key.key };
    try {
      await this.#db.transaction(async (tx) => {
        await insertNumber(tx, number);
        await insertApiKey(tx, key.record);
        await onStored?.(tx, { number: toPublicNumber(number), apiKey });
      });
    } catch (error) {
      if (
        /UNIQUE|unique|23505/.test(String((error as { code?: string }).code ?? '') + String((error as Error).message))
      ) {
        throw new ApiError('NUMBER_CONFLICT');
      }
      throw error;
    }
    if (this.#afterCreate) {
      // Learn what the provider supports now (bounded: creation never waits long on a slow provider).
      const learning = this.#afterCreate(number).catch(() => undefined);
      await Promise.race([learning, new Promise((r) => setTimeout(r, 3000).unref())]);
    }
    const stored = await getNumberForTenant(this.#db, tenantId, number.id);
    return { number: toPublicNumber(stored ?? number), apiKey };
  }

  /** Nothing is stored unless Graph shows the token reaches the id (docs/design.md "Numbers"). */
  async #verifyMeta(phoneNumberId: string, accessToken: string): Promise<void> {
    if (!this.#checkMetaNumber) {
      return;
    }
    const checked = await this.#checkMetaNumber(phoneNumberId, accessToken);
    if (!checked.ok) {
      throw metaVerificationRefusal(checked, phoneNumberId);
    }
  }

  /** A tenant key sees all its numbers; a number key only its own (Pilot). */
  async list(p: Principal) {
    if (p.scope === 'number') {
      const own = await getNumberForTenant(this.#db, p.tenantId, p.numberId);
      return own ? [toPublicNumber(own)] : [];
    }
    return (await listNumbersForTenant(this.#db, p.tenantId)).map(toPublicNumber);
  }

  async get(tenantId: TenantId, id: string) {
    const number = await getNumberForTenant(this.#db, tenantId, id);
    if (!number) {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
    return toPublicNumber(number);
  }

  async update(tenantId: TenantId, id: string, settings: NumberSettings) {
    const now = this.#clock.now().toISOString();
    if (!(await setNumberRecordCallsForTenant(this.#db, tenantId, id, settings.recordCalls, now))) {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
    return this.get(tenantId, id);
  }

  /**
   * Answers the deleted number's public config: an instance callgate created for it is to be released too.
   * A number with live calls is not deleted (409 NUMBER_HAS_LIVE_CALLS, naming them): deleting it would leave them
   * going on at the provider untracked, and their call.ended could reach no webhook (those go with the number).
   * A call still being placed (POST /v1/calls waiting for the provider) counts: it is about to ring.
   * `force` deletes them all the same: a call the provider can no longer end (its token revoked, its server gone)
   * stays ACCEPTED, and would otherwise keep its number, and the number's key, for ever.
   */
  async delete(tenantId: TenantId, id: string, opts: { force?: boolean } = {}): Promise<Record<string, unknown>> {
    const placingSince = new Date(this.#clock.now().getTime() - this.#placingForMs).toISOString();
    const deleted = await deleteNumberForTenant(this.#db, tenantId, id, {
      withLiveCalls: opts.force === true,
      placingSince,
    });
    if (!deleted) {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
    if ('liveCallIds' in deleted) {
      throw new ApiError('NUMBER_HAS_LIVE_CALLS', {
        details: { liveCalls: deleted.liveCallIds, callsBeingPlaced: deleted.callsBeingPlaced },
      });
    }
    // Its recordings go with it: no key or call is left that could fetch or delete them.
    await Promise.all(
      deleted.recordingPaths.map((path) =>
        unlink(path).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') {
            this.#logger?.warn({ numberId: id, err: err.message }, 'recording of a deleted number not removed');
          }
        }),
      ),
    );
    return deleted.publicConfig;
  }

  /**
   * Pilot's key list: one item per number. Keys are stored hashed, so the raw key is never revealable; the key id
   * is a credential too (x-api-key-id) and is shown masked.
   */
  /** One item per number of the tenant, or only `numberId` (named by x-whatsapp-number-id): NUMBER_NOT_FOUND if not its. */
  async listKeys(tenantId: TenantId, numberId?: string) {
    const rows = await listNumberKeysForTenant(this.#db, tenantId);
    const listed = numberId === undefined ? rows : rows.filter((row) => row.numberId === numberId);
    if (numberId !== undefined && listed.length === 0) {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
    return listed.map((row) => ({
      numberId: row.numberId,
      // Pilot's item names the phone by its digits, like the number object's `number` (no +).
      number: row.phoneNumber.replace(/^\+/, ''),
      displayName: row.name,
      keyId: row.key ? `key_…${row.key.keyIdLast4}` : null,
      keyLast4: row.key?.keyLast4 ?? null,
      key: null,
      revealable: false,
      scope: 'number' as const,
      keyIdLast4: row.key?.keyIdLast4 ?? null,
      createdAt: row.key?.createdAt ?? null,
      lastUsedAt: row.key?.lastUsedAt ?? null,
    }));
  }

  /** The number's key when it has none (Pilot's POST /v1/api-keys); shown this once. */
  async createKey(tenantId: TenantId, numberId: string, onStored?: OnStored<CreatedKey>): Promise<CreatedKey> {
    const key = issueKey(tenantId, numberId as NumberId, this.#clock.now().toISOString());
    const created = { numberId, keyId: key.id, key: key.key };
    const outcome = await insertNumberKeyIfAbsentForTenant(
      this.#db,
      tenantId,
      numberId as NumberId,
      key.record,
      onStored && ((tx) => onStored(tx, created)),
    );
    if (outcome === 'no-number') {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
    if (outcome === 'exists') {
      throw new ApiError('API_KEY_EXISTS');
    }
    return created;
  }

  async regenerateKey(tenantId: TenantId, numberId: string) {
    const key = issueKey(tenantId, numberId as NumberId, this.#clock.now().toISOString());
    if (!(await replaceNumberKeyForTenant(this.#db, tenantId, numberId as NumberId, key.record))) {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
    // Pilot reads keyId/key at the top level; callgate's clients read apiKey.
    return { numberId, keyId: key.id, key: key.key, apiKey: { id: key.id, key: key.key } };
  }

  /**
   * What a sandbox number's users say when it calls them is read on every outbound call: a setting that can never
   * play (an unknown word, a tone out of range, a refused URL) is refused here, or every call would fail with a 502.
   * A WAV URL is checked for its form only; it is fetched when a call needs it.
   */
  #checkSandboxAudio(input: NewNumber): void {
    const audio = input.provider === 'SANDBOX' ? input.sandbox?.audio : undefined;
    if (audio === undefined) {
      return;
    }
    const parsed = parseAudioSpec(audio, this.#allowInsecureAudioUrls);
    if (!parsed.ok) {
      throw new ApiError('VALIDATION_ERROR', {
        details: { field: 'sandbox.audio', reason: `sandbox.audio: ${parsed.reason}` },
      });
    }
  }

  metaSecrets(number: NumberRecord): MetaSecrets {
    return JSON.parse(this.#box.open(number.secretConfig)) as MetaSecrets;
  }

  evolutionSecrets(number: NumberRecord): EvolutionSecrets {
    return JSON.parse(this.#box.open(number.secretConfig)) as EvolutionSecrets;
  }
}

/** Sandbox numbers live in +99, a country code no one has, so they can never be mistaken for real ones. */
function phoneNumberOf(input: NewNumber): string {
  if (input.phoneNumber) {
    return input.phoneNumber;
  }
  if (input.provider !== 'SANDBOX') {
    throw new ApiError('VALIDATION_ERROR', { details: { reason: 'phoneNumber is required' } });
  }
  return `+99${String(randomInt(0, 1e10)).padStart(10, '0')}`;
}

function splitConfig(input: NewNumber, allowedHosts: AllowedHosts) {
  if (input.provider === 'SANDBOX') {
    return {
      publicConfig: { sandbox: { ...DEFAULT_SANDBOX_SETTINGS, ...input.sandbox } },
      secrets: {},
      metaPhoneNumberId: null,
    };
  }
  if (input.provider === 'META') {
    if (!input.meta) {
      throw new ApiError('VALIDATION_ERROR', { details: { reason: 'provider META needs a "meta" object' } });
    }
    const { accessToken, appSecret, verifyToken, phoneNumberId, wabaId } = input.meta;
    assertHeaderSafe('meta.accessToken', accessToken);
    return {
      publicConfig: { phoneNumberId, wabaId: wabaId ?? null },
      secrets: { accessToken, appSecret, verifyToken } satisfies MetaSecrets,
      metaPhoneNumberId: phoneNumberId,
    };
  }
  if (!input.evolution) {
    throw new ApiError('VALIDATION_ERROR', { details: { reason: 'provider EVO_GO needs an "evolution" object' } });
  }
  const { instanceToken, webhookSecret, baseUrl, instanceId, instanceName, publicWsBaseUrl } = input.evolution;
  assertHeaderSafe('evolution.instanceToken', instanceToken);
  if (webhookSecret !== undefined) {
    assertHeaderSafe('evolution.webhookSecret', webhookSecret);
  }
  const base = baseUrl.replace(/\/+$/, '');
  // "https://" alone passes the schema's pattern but names no server: every request would fail as CONFIG.
  if (!/^https?:\/\/[^/?#\s]/i.test(base)) {
    throw new ApiError('VALIDATION_ERROR', { details: { reason: 'evolution.baseUrl names no host' } });
  }
  // Every request goes to baseUrl + an Evolution path: after a "?" or "#" that path would be a query or dropped, so
  // each request would reach the base's own path instead (any URL at all, the key's owner choosing it).
  if (/[?#]/.test(base)) {
    throw new ApiError('VALIDATION_ERROR', {
      details: { field: 'evolution.baseUrl', reason: 'evolution.baseUrl must not have a query or fragment' },
    });
  }
  // These URLs are not secrets: every key of the tenant and the number reads them back. Credentials in them would
  // be shown in clear (and fetch refuses such a URL, so the number could never reach its server anyway).
  for (const [field, raw] of [
    ['baseUrl', base],
    ['publicWsBaseUrl', publicWsBaseUrl],
  ] as const) {
    const url = raw === undefined || !URL.canParse(raw) ? null : new URL(raw);
    if (url && (url.username !== '' || url.password !== '')) {
      throw new ApiError('VALIDATION_ERROR', {
        details: { field: `evolution.${field}`, reason: `evolution.${field} must not contain credentials` },
      });
    }
  }
  if (!isAllowedHost(base, allowedHosts)) {
    throw new ApiError('VALIDATION_ERROR', {
      details: { field: 'evolution.baseUrl', reason: `evolution.baseUrl ${HOST_NOT_ALLOWED}` },
    });
  }
  return {
    publicConfig: {
      baseUrl: base,
      instanceId,
      instanceName: instanceName ?? null,
      publicWsBaseUrl: publicWsBaseUrl ?? null,
    },
    secrets: { instanceToken, ...(webhookSecret ? { webhookSecret } : {}) } satisfies EvolutionSecrets,
    metaPhoneNumberId: null,
  };
}

/**
 * A credential that travels in an HTTP header (Graph's Authorization, Evolution's apikey, the proxy's
 * X-Webhook-Secret) is refused with its field unless it is visible ASCII: a pasted token with a line break, a space or
 * an emoji could never be sent (every request would fail as "provider unreachable") or never match what arrives.
 */
function assertHeaderSafe(field: string, value: string): void {
  if (!/^[!-~]+$/.test(value)) {
    throw new ApiError('VALIDATION_ERROR', {
      details: {
        field,
        reason: `${field} may hold only visible ASCII characters (no spaces or line breaks): it is sent in an HTTP header`,
      },
    });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
