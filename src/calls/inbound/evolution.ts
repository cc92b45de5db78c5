// Inbound Evolution Go webhooks: the number comes from the URL, the instance id + token in the body
// authenticate it (constant time), then each update goes through the call machine.
import type { Logger } from 'pino';
import type { Clock } from '../../clock.ts';
import { ApiError } from '../../errors.ts';
import type { NumberId } from '../../ids.ts';
import type { NumberRecord } from '../../model/number.ts';
import type { ProviderCallEvent } from '../../model/provider-event.ts';
import { connectionPatch } from '../../numbers/connection-state.ts';
import { evolutionConfigOf } from '../../providers/evolution/client.ts';
import {
  type EvolutionUpdate,
  evolutionInstanceNameOf,
  isDocumentedEvolutionReason,
  isValidEvolutionAuth,
  parseEvolutionConnection,
  parseEvolutionWebhook,
} from '../../providers/evolution/webhook.ts';
import type { EvolutionSecrets } from '../../providers/types.ts';
import { findCallByExternalIdForNumber } from '../../store/calls.ts';
import type { Db } from '../../store/db.ts';
import { getNumberById, mergeNumberPublicConfig } from '../../store/numbers.ts';
import type { ProviderEvents } from '../provider-events.ts';
import { UnauthenticatedWebhook } from './unauthenticated.ts';

export interface EvolutionInboundDeps {
  db: Db;
  events: ProviderEvents;
  clock: Clock;
  logger: Logger;
  secretsOf(number: NumberRecord): EvolutionSecrets;
  /** A Connected/PairSuccess named the phone the instance is linked to (its state is stored first). */
  onPaired?(number: NumberRecord, phone: string): Promise<void>;
}

export async function receiveEvolutionWebhook(
  deps: EvolutionInboundDeps,
  numberId: string,
  raw: Buffer,
  /** X-Webhook-Secret, when a reverse proxy adds one (checked only on numbers configured with a webhookSecret). */
  headerSecret: string | null = null,
): Promise<number> {
  // The number first (docs/spec/providers-evolution-go.md §3.1): a sender that names no number of ours learns
  // nothing from how its body is parsed.
  const number = /^num_[0-9A-Z]{26}$/.test(numberId) ? await getNumberById(deps.db, numberId as NumberId) : null;
  const config = number?.provider === 'EVO_GO' ? evolutionConfigOf(number) : null;
  if (!number || !config) {
    throw new UnauthenticatedWebhook('unknown number');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ApiError('VALIDATION_ERROR', { details: { reason: 'body is not JSON' } });
  }
  const secrets = deps.secretsOf(number);
  if (
    !isValidEvolutionAuth(
      payload,
      {
        instanceId: config.instanceId,
        instanceToken: secrets.instanceToken,
        ...(secrets.webhookSecret ? { headerSecret: secrets.webhookSecret } : {}),
      },
      headerSecret,
    )
  ) {
    deps.logger.warn({ numberId }, 'evolution webhook with a wrong instance id or token refused');
    throw new UnauthenticatedWebhook('wrong instance or token');
  }
  const name = evolutionInstanceNameOf(payload);
  if (config.instanceName && name && name !== config.instanceName) {
    deps.logger.info({ numberId, name }, 'evolution instance name differs from the configured one');
  }

  const connection = parseEvolutionConnection(payload);
  if (connection) {
    // The instance's own state (CONNECTION subscription): the number's `state` follows it.
    const now = deps.clock.now().toISOString();
    await mergeNumberPublicConfig(deps.db, number.id, (current) => connectionPatch(current, connection, now), now);
    deps.logger.info({ numberId, event: connection.event }, 'evolution instance connection changed');
    if (connection.phone !== null) {
      // The phone that scanned is known now: one phone, one web number (WebOnboarding.claimPhone).
      await deps.onPaired?.(number, connection.phone);
    }
    return 1;
  }

  const { updates, ignored } = parseEvolutionWebhook(payload, {
    ownNumber: number.phoneNumber,
    receivedAt: deps.clock.now().toISOString(),
  });
  for (const reason of ignored) {
    deps.logger.debug({ numberId, reason }, 'evolution event ignored');
  }
  let applied = 0;
  for (const update of updates) {
    if (update.reason !== null && !isDocumentedEvolutionReason(update.reason)) {
      deps.logger.info({ numberId, reason: update.reason }, 'evolution end reason not in the spec; decided by state');
    }
    // `accepted_elsewhere` (another device of the business answered) arrives as CONNECTED: the call is answered,
    // not ended (docs/spec/providers-evolution-go.md §4).
    const offer = update.caller ? await offerNeverSeen(deps.db, number, update) : null;
    if (offer && update.signal === 'CONNECTED') {
      // The offer was delayed: the call rang, and is answered now (however late the answer is delivered).
      await deps.events.apply(number, offer.event, 'INBOUND', offer.providerData, { answered: true });
    }
    await deps.events.apply(
      number,
      update.event,
      update.direction,
      update.callCreator ? { callCreator: update.callCreator } : undefined,
    );
    if (offer && update.signal === 'ENDED') {
      // The offer was lost (or `rejectCall` is on): the end waits as a tombstone, and this offer makes the call
      // from it, terminal at once; a late real offer then changes nothing.
      await deps.events.apply(number, offer.event, 'INBOUND', offer.providerData);
    }
    applied++;
  }
  return applied;
}

/** For a CONNECTED/ENDED of a call to us that we do not hold: the offer it implies. */
async function offerNeverSeen(
  db: Db,
  number: NumberRecord,
  update: EvolutionUpdate,
): Promise<{ event: ProviderCallEvent; providerData: Record<string, unknown> | undefined } | null> {
  const { caller } = update;
  if (!caller || (await findCallByExternalIdForNumber(db, number.id, update.event.externalCallId))) {
    return null;
  }
  return {
    event: {
      type: 'offer',
      externalCallId: update.event.externalCallId,
      peerNumber: caller.peerNumber,
      peerLid: caller.peerLid,
      at: update.event.at,
      sdpOffer: null,
      bizOpaqueCallbackData: null,
    },
    providerData: caller.callCreator ? { callCreator: caller.callCreator } : undefined,
  };
}
