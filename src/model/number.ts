// A WhatsApp number and the provider that carries its calls.
import type { NumberId, TenantId } from './ids.ts';

export const PROVIDERS = ['META', 'EVO_GO', 'SANDBOX'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** Providers whose calls follow Meta's model: SDP offer/answer relayed, pre-accept, permissions, settings. */
export function speaksMetaModel(provider: ProviderName): boolean {
  return provider === 'META' || provider === 'SANDBOX';
}

/** A number as stored: public config in clear, provider credentials sealed. */
export interface NumberRecord {
  id: NumberId;
  tenantId: TenantId;
  name: string;
  phoneNumber: string;
  provider: ProviderName;
  metaPhoneNumberId: string | null;
  publicConfig: Record<string, unknown>;
  secretConfig: string;
  /** Server-media calls on this number record unless the request says `record: false`; absent means false. */
  recordCalls?: boolean;
  createdAt: string;
  updatedAt: string;
}
