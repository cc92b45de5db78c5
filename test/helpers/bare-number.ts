// A META number row as the store keeps it, with nothing behind it (no credentials that open, no fake Graph): for
// store-level tests that need a number for their rows' foreign keys and nothing else.
import type { NumberId, TenantId } from '../../src/ids.ts';
import { newNumberId } from '../../src/ids.ts';
import type { Db } from '../../src/store/db.ts';
import { insertNumber } from '../../src/store/numbers.ts';

export async function insertBareNumber(db: Db, tenantId: TenantId): Promise<NumberId> {
  const id = newNumberId();
  const now = new Date().toISOString();
  await insertNumber(db, {
    id,
    tenantId,
    name: 'n',
    phoneNumber: `+55119${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`,
    provider: 'META',
    metaPhoneNumberId: null,
    publicConfig: {},
    secretConfig: 'x',
    createdAt: now,
    updatedAt: now,
  });
  return id;
}
