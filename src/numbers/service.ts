// Numbers and their keys: credentials sealed on the way in, never returned on the way out.
import { randomInt } from 'node:crypto';
import { issueKey } from '../auth/keys.ts';
import type { SecretBox } from '../auth/secret-box.ts';
import type { Clock } from '../clock.ts';
import { ApiError } from '../errors.ts';
import { type NumberId, newNumberId, type TenantId } from '../ids.ts';
import { DEFAULT_SANDBOX_SETTINGS, type SandboxSettings, sandboxSettingsOf } from '../providers/sandbox/settings.ts';
import type { EvolutionSecrets, MetaSecrets } from '../providers/types.ts';
import { insertApiKey, listApiKeysForTenant, replaceNumberKeyForTenant } from '../store/api-keys.ts';
import type { Db } from '../store/db.ts';
import {
  deleteNumberForTenant,
  getNumberForTenant,
  insertNumber,
  listNumbersForTenant,
  type NumberRecord,
  type ProviderName,
} from '../store/numbers.ts';

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
    publicWsBaseUrl?: string;
  };
  sandbox?: Partial<SandboxSettings>;
}

/** The public view of a number. */
export function toPublicNumber(n: NumberRecord) {
  return {
    id: n.id,
    name: n.name,
    phoneNumber: n.phoneNumber,
    provider: n.provider,
    createdAt: n.createdAt,
    updatedAt: n.updatedAt,
    ...(n.provider === 'META' ? { meta: n.publicConfig } : {}),
    ...(n.provider === 'EVO_GO' ? { evolution: n.publicConfig } : {}),
    sandbox: n.provider === 'SANDBOX',
    ...(n.provider === 'SANDBOX' ? { sandboxSettings: sandboxSettingsOf(n) } : {}),
  };
}

export class NumberService {
  readonly #db: Db;
  readonly #box: SecretBox;
  readonly #clock: Clock;
  readonly #afterCreate: ((number: NumberRecord) => Promise<void>) | undefined;
  constructor(db: Db, box: SecretBox, clock: Clock, afterCreate?: (number: NumberRecord) => Promise<void>) {
    this.#db = db;
    this.#box = box;
    this.#clock = clock;
    this.#afterCreate = afterCreate;
  }

  async create(tenantId: TenantId, input: NewNumber) {
    const now = this.#clock.now().toISOString();
    const { publicConfig, secrets, metaPhoneNumberId } = splitConfig(input);
    const number: NumberRecord = {
      id: newNumberId(),
      tenantId,
      name: input.name,
      phoneNumber: phoneNumberOf(input),
      provider: input.provider,
      metaPhoneNumberId,
      publicConfig,
      secretConfig: this.#box.seal(JSON.stringify(secrets)),
      createdAt: now,
      updatedAt: now,
    };
    const key = issueKey(tenantId, number.id, now);
    try {
      await this.#db.transaction(async (tx) => {
        await insertNumber(tx, number);
        await insertApiKey(tx, key.record);
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
    return { number: toPublicNumber(stored ?? number), apiKey: { id: key.id, key: key.key } };
  }

  async list(tenantId: TenantId) {
    return (await listNumbersForTenant(this.#db, tenantId)).map(toPublicNumber);
  }

  async get(tenantId: TenantId, id: string) {
    const number = await getNumberForTenant(this.#db, tenantId, id);
    if (!number) {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
    return toPublicNumber(number);
  }

  async delete(tenantId: TenantId, id: string): Promise<void> {
    if (!(await deleteNumberForTenant(this.#db, tenantId, id))) {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
  }

  async listKeys(tenantId: TenantId) {
    return (await listApiKeysForTenant(this.#db, tenantId)).map((k) => ({
      scope: k.numberId ? ('number' as const) : ('tenant' as const),
      numberId: k.numberId,
      keyIdLast4: k.keyIdLast4,
      keyLast4: k.keyLast4,
      createdAt: k.createdAt,
      lastUsedAt: k.lastUsedAt,
    }));
  }

  async regenerateKey(tenantId: TenantId, numberId: string) {
    const key = issueKey(tenantId, numberId as NumberId, this.#clock.now().toISOString());
    if (!(await replaceNumberKeyForTenant(this.#db, tenantId, numberId as NumberId, key.record))) {
      throw new ApiError('NUMBER_NOT_FOUND');
    }
    return { numberId, apiKey: { id: key.id, key: key.key } };
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

function splitConfig(input: NewNumber) {
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
    return {
      publicConfig: { phoneNumberId, wabaId: wabaId ?? null },
      secrets: { accessToken, appSecret, verifyToken } satisfies MetaSecrets,
      metaPhoneNumberId: phoneNumberId,
    };
  }
  if (!input.evolution) {
    throw new ApiError('VALIDATION_ERROR', { details: { reason: 'provider EVO_GO needs an "evolution" object' } });
  }
  const { instanceToken, baseUrl, instanceId, instanceName, publicWsBaseUrl } = input.evolution;
  return {
    publicConfig: {
      baseUrl: baseUrl.replace(/\/+$/, ''),
      instanceId,
      instanceName: instanceName ?? null,
      publicWsBaseUrl: publicWsBaseUrl ?? null,
    },
    secrets: { instanceToken } satisfies EvolutionSecrets,
    metaPhoneNumberId: null,
  };
}
