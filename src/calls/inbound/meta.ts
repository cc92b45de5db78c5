// Inbound Meta webhooks: authenticate (the adapter verifies), route by phone_number_id, apply each update.
import type { Logger } from 'pino';
import type { Clock } from '../../clock.ts';
import { ApiError } from '../../errors.ts';
import type { NumberRecord } from '../../model/number.ts';
import {
  accountSettingsOf,
  isValidMetaSignature,
  isValidMetaVerifyToken,
  parseMetaWebhook,
  phoneNumberIdsOf,
  rawCallsValuesOf,
} from '../../providers/meta/webhook.ts';
import type { MetaSecrets } from '../../providers/types.ts';
import type { Db } from '../../store/db.ts';
import { findMetaNumbersByPhoneNumberIds, listMetaNumbers } from '../../store/numbers.ts';
import type { MetaCalling } from '../meta-calling.ts';
import type { ProviderEvents } from '../provider-events.ts';
import { UnauthenticatedWebhook } from './unauthenticated.ts';

export interface MetaInboundDeps {
  db: Db;
  events: ProviderEvents;
  metaCalling: MetaCalling;
  clock: Clock;
  logger: Logger;
  secretsOf(number: NumberRecord): MetaSecrets;
}

/** The subscription check: answers the challenge when the verify token is one of our META numbers'. */
export async function verifyMetaSubscription(deps: MetaInboundDeps, mode: string, token: string): Promise<boolean> {
  if (mode !== 'subscribe') {
    return false;
  }
  let matched = false;
  // Compare against every number without stopping early, so timing says nothing about which matched.
  for (const number of await listMetaNumbers(deps.db)) {
    if (isValidMetaVerifyToken(token, deps.secretsOf(number).verifyToken)) {
      matched = true;
    }
  }
  return matched;
}

async function signedByOneOfOurApps(deps: MetaInboundDeps, raw: Buffer, signature: string): Promise<boolean> {
  const secrets = new Set((await listMetaNumbers(deps.db)).map((n) => deps.secretsOf(n).appSecret));
  for (const secret of secrets) {
    if (await isValidMetaSignature(raw, signature, secret)) {
      return true;
    }
  }
  return false;
}

/** A Graph phone_number_id, as numbers are registered with (docs/spec/providers-meta.md: numeric Graph id). */
const GRAPH_ID = /^[0-9]{1,32}$/;
/** docs/spec/providers-meta.md §4: Meta puts up to 1000 updates in one POST, of any of the app's numbers. */
const MAX_UPDATES_PER_POST = 1000;

/** Returns how many updates were applied; throws UnauthenticatedWebhook or ApiError for the HTTP layer. */
export async function receiveMetaWebhook(
  deps: MetaInboundDeps,
  raw: Buffer,
  signature: string | undefined,
): Promise<number> {
  if (!signature) {
    throw new UnauthenticatedWebhook('missing signature');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(raw.toString('utf8'));
  } catch {
    // Without JSON no number names the secret; a 400 is for bodies one of our apps signed (calls-api.md §5).
    if (!(await signedByOneOfOurApps(deps, raw, signature))) {
      throw new UnauthenticatedWebhook('a body that is not JSON, signed by no app of ours');
    }
    throw new ApiError('VALIDATION_ERROR', { details: { reason: 'body is not JSON' } });
  }
  // Only Graph ids can name a number of ours: anything else (a NUL, which PostgreSQL refuses) never reaches the store.
  const named = phoneNumberIdsOf(payload).filter((id) => GRAPH_ID.test(id));
  const candidates = await findMetaNumbersByPhoneNumberIds(deps.db, named.slice(0, MAX_UPDATES_PER_POST));
  const trusted = new Map<string, NumberRecord>();
  // One HMAC over the body per app, however many of its numbers the POST names (up to MAX_UPDATES_PER_POST).
  const signedBy = new Map<string, boolean>();
  for (const number of candidates) {
    const { appSecret } = deps.secretsOf(number);
    let signed = signedBy.get(appSecret);
    if (signed === undefined) {
      signed = await isValidMetaSignature(raw, signature, appSecret);
      signedBy.set(appSecret, signed);
    }
    if (number.metaPhoneNumberId && signed) {
      trusted.set(number.metaPhoneNumberId, number);
    }
  }
  if (trusted.size === 0) {
    // Meta also sends what names no number of ours (WABA-level changes, numbers of the app we do not hold) and
    // retries a refusal for days: when one of our apps signed it, it is Meta's, so 200 and nothing to do.
    if (candidates.length === 0 && (await signedByOneOfOurApps(deps, raw, signature))) {
      deps.logger.debug(
        { phoneNumberIds: phoneNumberIdsOf(payload).slice(0, 10) },
        'meta webhook for no number of ours',
      );
      return 0;
    }
    throw new UnauthenticatedWebhook('no number of ours signed this');
  }

  const { updates, permissionReplies, skipped } = parseMetaWebhook(payload, deps.clock.now().toISOString());
  for (const s of skipped) {
    deps.logger.warn(s, 'meta webhook update skipped');
  }
  let applied = 0;
  for (const update of updates) {
    const number = trusted.get(update.phoneNumberId);
    if (!number) {
      deps.logger.warn(
        { phoneNumberId: update.phoneNumberId },
        'meta update for a number not covered by the signature skipped',
      );
      continue;
    }
    try {
      await deps.events.apply(number, update.event, update.direction, update.providerData);
      applied++;
    } catch (error) {
      // One bad update is skipped so it cannot block the rest (R9); anything else was not recorded, so the whole
      // POST fails and Meta retries it (a 200 is never retried: answering one here would lose the call).
      if (!(error instanceof ApiError) || error.status >= 500) {
        throw error;
      }
      deps.logger.warn({ err: error.message, numberId: number.id, type: update.event.type }, 'meta update refused');
    }
  }
  for (const reply of permissionReplies) {
    const number = trusted.get(reply.phoneNumberId);
    if (!number) {
      continue;
    }
    await deps.metaCalling.recordPermissionReply(number, reply);
    applied++;
  }
  for (const settings of accountSettingsOf(payload)) {
    const number = trusted.get(settings.phoneNumberId);
    if (number && (await deps.metaCalling.recordAccountSettings(number, settings.calling))) {
      applied++;
    } else if (number) {
      deps.logger.warn({ numberId: number.id }, 'meta calling settings nested too deep to keep');
    }
  }
  for (const { phoneNumberId, value } of rawCallsValuesOf(payload)) {
    const number = trusted.get(phoneNumberId);
    if (number && !(await deps.metaCalling.forwardRawCalls(number, value))) {
      deps.logger.warn({ numberId: number.id }, 'meta calls value nested too deep to forward as the calls event');
    }
  }
  return applied;
}
