import type { NumberRecord } from '../store/numbers.ts';
import type { CallProvider, ProviderResult } from './types.ts';
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
