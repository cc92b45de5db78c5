import type { NumberRecord } from '../model/number.ts';
import type { CallProvider, MetaCallingFeatures, ProviderResult } from './types.ts';
import { failure } from './types.ts';

/** Numbers whose provider has no adapter yet answer FEATURE_NOT_SUPPORTED instead of failing. */
const unsupported: CallProvider = {
  endCall: async (): Promise<ProviderResult> => failure('NOT_SUPPORTED', 'provider not supported'),
  accept: async (): Promise<ProviderResult> => failure('NOT_SUPPORTED', 'provider not supported'),
  reject: async (): Promise<ProviderResult> => failure('NOT_SUPPORTED', 'provider not supported'),
  start: async () => failure('NOT_SUPPORTED', 'provider not supported'),
};

export type ProviderRegistry = (number: NumberRecord) => CallProvider;

export function providerRegistry(adapters: Partial<Record<NumberRecord['provider'], CallProvider>>): ProviderRegistry {
  return (number) => adapters[number.provider] ?? unsupported;
}

/** Meta's number-level features (pre-accept, permissions, settings), routed to the number's own adapter. */
export function metaFeaturesRegistry(
  adapters: Partial<Record<NumberRecord['provider'], MetaCallingFeatures>>,
): MetaCallingFeatures {
  const of = (number: NumberRecord) => adapters[number.provider];
  const none = failure('NOT_SUPPORTED', 'provider not supported');
  return {
    preAccept: async (n, call, sdp) => (await of(n)?.preAccept(n, call, sdp)) ?? none,
    getSettings: async (n) => (await of(n)?.getSettings(n)) ?? none,
    updateSettings: async (n, settings) => (await of(n)?.updateSettings(n, settings)) ?? none,
    getPermissions: async (n, waId) => (await of(n)?.getPermissions(n, waId)) ?? none,
    requestPermission: async (n, waId, text) => (await of(n)?.requestPermission(n, waId, text)) ?? none,
  };
}
