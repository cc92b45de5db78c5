// The SANDBOX adapter: the same provider port as META, answered by the simulator instead of the Graph API.
import type { Call } from '../../model/call.ts';
import type { NumberRecord } from '../../model/number.ts';
import {
  type CallProvider,
  type MetaCallingFeatures,
  ok,
  type ProviderResult,
  type StartCallRequest,
} from '../types.ts';
import { callingSettingsOf } from './settings.ts';
import type { SandboxSimulator } from './simulator.ts';

export class SandboxProvider implements CallProvider, MetaCallingFeatures {
  readonly #sim: SandboxSimulator;
  readonly #saveCalling: (number: NumberRecord, calling: Record<string, unknown>) => Promise<void>;

  constructor(
    simulator: SandboxSimulator,
    saveCalling: (number: NumberRecord, calling: Record<string, unknown>) => Promise<void>,
  ) {
    this.#sim = simulator;
    this.#saveCalling = saveCalling;
  }

  endCall(number: NumberRecord, call: Call, action: 'reject' | 'terminate'): Promise<ProviderResult> {
    return this.#sim.endCall(number, call, action);
  }

  accept(number: NumberRecord, call: Call, sdpAnswer: string | null): Promise<ProviderResult> {
    return this.#sim.accept(number, call, sdpAnswer);
  }

  reject(number: NumberRecord, call: Call): Promise<ProviderResult> {
    return this.#sim.endCall(number, call, 'reject');
  }

  start(
    number: NumberRecord,
    request: StartCallRequest,
  ): Promise<ProviderResult<{ externalCallId: string; providerData: Record<string, unknown> }>> {
    return this.#sim.start(number, request.to, request.sdp);
  }

  preAccept(number: NumberRecord, call: Call, sdpAnswer: string): Promise<ProviderResult> {
    return this.#sim.preAccept(number, call, sdpAnswer);
  }

  async getSettings(number: NumberRecord): Promise<ProviderResult<Record<string, unknown>>> {
    return { ok: true, value: callingSettingsOf(number) };
  }

  /** Meta's partial update at the `calling` level: each object given replaces the stored one. */
  async updateSettings(number: NumberRecord, settings: Record<string, unknown>): Promise<ProviderResult> {
    const current = callingSettingsOf(number).calling as Record<string, unknown>;
    const given = (settings.calling ?? {}) as Record<string, unknown>;
    await this.#saveCalling(number, { ...current, ...given });
    return ok;
  }

  async getPermissions(number: NumberRecord, waId: string): Promise<ProviderResult<Record<string, unknown>>> {
    return { ok: true, value: this.#sim.permissions(number, waId) };
  }

  async requestPermission(number: NumberRecord, waId: string): Promise<ProviderResult<{ messageId: string }>> {
    return this.#sim.requestPermission(number, waId);
  }
}
