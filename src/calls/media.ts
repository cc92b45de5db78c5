// Media actions on calls whose media the provider holds: play and realtime sessions on web numbers, carried out
// by their Evolution Go server. CallService depends on the ProviderMedia interface only.
import { ApiError } from '../errors.ts';
import type { Call } from '../model/call.ts';
import { type NumberRecord, speaksMetaModel } from '../model/number.ts';
import { type EvolutionProvider, evolutionWsUrl } from '../providers/evolution/client.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import { findCallForNumber } from '../store/calls.ts';
import type { Db } from '../store/db.ts';
import { checkPublicUrl, type HostLookup, refusalReason } from '../webhooks/url-guard.ts';
import { conflict } from './conflict.ts';
import { featureNotSupported, noServerMedia, providerError } from './provider-errors.ts';

export interface RealtimeSession {
  wsUrl: string;
  token: string;
  expiresInSeconds: number;
}

export interface ProviderMedia {
  /** Queues audio into a ringing or active call; FEATURE_NOT_SUPPORTED when the number's provider has no media. */
  play(number: NumberRecord, call: Call, mediaUrl: string): Promise<void>;
  /** A ticket for the provider's realtime media socket of a ringing or active call. */
  realtimeSession(number: NumberRecord, call: Call, mode: 'talk' | 'listen'): Promise<RealtimeSession>;
}

export class EvolutionMedia implements ProviderMedia {
  readonly #db: Db;
  readonly #evolution: EvolutionProvider | null;
  readonly #providers: ProviderRegistry;
  readonly #allowInsecureUrls: boolean;
  readonly #lookup: HostLookup | undefined;

  constructor(deps: {
    db: Db;
    evolution: EvolutionProvider | null;
    providers: ProviderRegistry;
    /** WEBHOOK_ALLOW_INSECURE_URLS: http and private addresses allowed (local development). */
    allowInsecureUrls: boolean;
    lookup?: HostLookup;
  }) {
    this.#db = deps.db;
    this.#evolution = deps.evolution;
    this.#providers = deps.providers;
    this.#allowInsecureUrls = deps.allowInsecureUrls;
    this.#lookup = deps.lookup;
  }

  async play(number: NumberRecord, call: Call, mediaUrl: string): Promise<void> {
    const evolution = this.#activeWebCall(number, call);
    // The Evolution server fetches the file, usually from inside the operator's network: the same guard as for a
    // file callgate fetches itself, or a key could make it read internal or metadata URLs.
    const checked = await checkPublicUrl(mediaUrl, this.#allowInsecureUrls, this.#lookup);
    if (!checked.ok) {
      throw new ApiError('VALIDATION_ERROR', {
        details: { field: 'mediaUrl', reason: `mediaUrl refused: ${refusalReason(checked)}` },
      });
    }
    const result = await evolution.play(number, call, checked.url.href);
    if (!result.ok) {
      throw await this.#mediaFailure(call, providerError(result, 'other', evolution));
    }
  }

  async realtimeSession(number: NumberRecord, call: Call, mode: 'talk' | 'listen'): Promise<RealtimeSession> {
    const evolution = this.#activeWebCall(number, call);
    const result = await evolution.streamTicket(number, call, mode);
    if (!result.ok) {
      throw await this.#mediaFailure(call, providerError(result, 'other', evolution));
    }
    const wsUrl = evolutionWsUrl(number, result.value.path);
    if (!wsUrl) {
      throw new ApiError('PROVIDER_ERROR', {
        details: { providerMessage: 'number has no usable Evolution base URL' },
      });
    }
    return { wsUrl, token: result.value.ticket, expiresInSeconds: result.value.expiresInSeconds };
  }

  #activeWebCall(number: NumberRecord, call: Call): EvolutionProvider {
    if (speaksMetaModel(number.provider)) {
      throw noServerMedia(call);
    }
    if (number.provider !== 'EVO_GO' || !this.#evolution) {
      throw featureNotSupported(this.#providers(number));
    }
    if (call.status !== 'RINGING' && call.status !== 'ACCEPTED') {
      throw conflict(call);
    }
    return this.#evolution;
  }

  /** The provider no longer tracks the call: 409 with the status we hold. */
  async #mediaFailure(call: Call, error: ApiError): Promise<ApiError> {
    if (error.code !== 'CALL_STATE_CONFLICT') {
      return error;
    }
    return conflict((await findCallForNumber(this.#db, call.numberId, call.id)) ?? call);
  }
}
