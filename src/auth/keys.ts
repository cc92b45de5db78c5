import { createHash } from 'node:crypto';
import type { NumberId, TenantId } from '../ids.ts';
import { newKeyId, newKeySecret } from '../ids.ts';
import type { ApiKeyRecord } from '../store/api-keys.ts';

export const hashCredential = (value: string) => createHash('sha256').update(value).digest('hex');

export interface IssuedKey {
  record: ApiKeyRecord;
  id: string;
  key: string;
}

/** A fresh key id and secret: shown once to the caller, stored only as hashes and last 4 chars. */
export function issueKey(tenantId: TenantId, numberId: NumberId | null, now: string): IssuedKey {
  const id = newKeyId();
  const key = newKeySecret();
  return {
    id,
    key,
    record: {
      idHash: hashCredential(id),
      secretHash: hashCredential(key),
      tenantId,
      numberId,
      keyIdLast4: id.slice(-4),
      keyLast4: key.slice(-4),
      createdAt: now,
      lastUsedAt: null,
    },
  };
}
