// The domain services, built once from config and store: the same wiring for the API (app.ts)
// and for `callgate worker` (which needs the providers for the sweeper).
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { SecretBox } from './auth/secret-box.ts';
import { ActionSlots } from './calls/action-slots.ts';
import { endedCallsDb } from './calls/ended-calls.ts';
import { Keypad } from './calls/keypad.ts';
import { EvolutionMedia } from './calls/media.ts';
import { MetaCalling } from './calls/meta-calling.ts';
import { OutboundCalls, placingForMs } from './calls/outbound.ts';
import { ProviderEvents } from './calls/provider-events.ts';
import { RecordingRetention } from './calls/recording-retention.ts';
import { Recordings } from './calls/recordings.ts';
import { SandboxCalls } from './calls/sandbox.ts';
import { CallService } from './calls/service.ts';
import { Sweeper } from './calls/sweeper.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import { MediaEngine } from './media/engine/engine.ts';
import { MediaNode } from './media/engine/media-node.ts';
import type { RealtimeHub } from './media/engine/realtime-hub.ts';
import { createPeerFactory, LOOPBACK_ICE, type PeerFactory } from './media/rtc/peer-factory.ts';
import { type Metrics, mediaObserver } from './metrics.ts';
import { NumberService } from './numbers/service.ts';
import { EvolutionProvider } from './providers/evolution/client.ts';
import { MetaProvider } from './providers/meta/client.ts';
import { observedRegistry, observeProvider, providerObserver } from './providers/observed.ts';
import { metaFeaturesRegistry, type ProviderRegistry, providerRegistry } from './providers/registry.ts';
import { SandboxProvider } from './providers/sandbox/provider.ts';
import { SandboxSimulator } from './providers/sandbox/simulator.ts';
import type { ProviderResult } from './providers/types.ts';
import type { Db } from './store/db.ts';
import { notifyingDb } from './store/notifying-db.ts';
import { getNumberById, mergeNumberPublicConfig } from './store/numbers.ts';
import type { HostLookup } from './webhooks/url-guard.ts';

export interface ServiceDeps {
  config: Config;
  db: Db;
  secretKey: string;
  clock: Clock;
  logger: Logger;
  /** Tests may replace the provider adapters. */
  providers?: ProviderRegistry;
  /** Wakes the in-process webhook worker after a commit that may have queued deliveries. */
  wakeDeliveries?: () => void;
  /** Provider requests and ended calls are counted here when given. */
  metrics?: Metrics;
  /** Given in the API process: its server media (the worker process has none). */
  realtime?: RealtimeHub;
  /** DNS for the URL guard of media URLs handed to providers (tests replace it). */
  hostLookup?: HostLookup;
}

export function buildServices(deps: ServiceDeps) {
  const { config, db, clock, logger } = deps;
  const box = new SecretBox(deps.secretKey, config.previousSecretKey);
  const rememberCapability = (id: NumberRecordId, capability: string, checkedAt: string) =>
    mergeNumberPublicConfig(
      db,
      id,
      { capabilities: { callsExtension: capability, checkedAt } },
      clock.now().toISOString(),
    );

  const numbers = new NumberService(db, box, clock, {
    logger,
    allowInsecureAudioUrls: config.webhookAllowInsecureUrls,
    evolutionAllowedHosts: config.evolutionAllowedHosts,
    placingForMs: placingForMs(config),
    // `meta` is built below; the check runs only once a number is registered.
    checkMetaNumber: config.metaVerifyNumbers
      ? (id: string, token: string): Promise<ProviderResult> => meta.verifyNumber(id, token)
      : null,
    afterCreate: async (n) => {
      if (n.provider !== 'EVO_GO') {
        return;
      }
      const probed = await evolution.probe(n);
      if (probed.ok && probed.value.capability !== 'unknown') {
        await rememberCapability(n.id, probed.value.capability, probed.value.checkedAt);
      }
    },
  });
  const metaClient = new MetaProvider({
    baseUrl: config.metaGraphBaseUrl,
    version: config.metaGraphVersion,
    timeoutMs: config.providerTimeoutMs,
    secretsOf: (n) => numbers.metaSecrets(n),
    logger,
    onConnectionState: (n, state) => {
      mergeNumberPublicConfig(db, n.id, { state }, clock.now().toISOString()).catch((err) =>
        logger.warn({ err: err.message, numberId: n.id }, 'could not store the number state'),
      );
    },
  });
  const evolutionClient = new EvolutionProvider({
    timeoutMs: config.providerTimeoutMs,
    dialTimeoutMs: config.evolutionDialTimeoutMs,
    allowedHosts: config.evolutionAllowedHosts,
    secretsOf: (n) => numbers.evolutionSecrets(n),
    logger,
    now: () => clock.now().getTime(),
    // What the server supports is remembered on the number, so a missing extension costs no request.
    onCapability: (n, capability) => {
      rememberCapability(n.id, capability, clock.now().toISOString()).catch((err) =>
        logger.warn({ err: err.message, numberId: n.id }, 'could not store the Evolution capability'),
      );
    },
    onRouteCapability: (n, route, present) => {
      const now = clock.now().toISOString();
      const update = (current: Record<string, unknown>) => {
        const missing = { ...((current.missingRoutes as Record<string, string> | undefined) ?? {}) };
        if (present) {
          delete missing[route];
        } else {
          missing[route] = now;
        }
        return { missingRoutes: missing };
      };
      mergeNumberPublicConfig(db, n.id, update, now).catch((err) =>
        logger.warn({ err: err.message, numberId: n.id, route }, 'could not store the Evolution route capability'),
      );
    },
  });
  // Every provider request is timed, counted and, when it fails, logged (providers/observed.ts).
  const observer = providerObserver(logger, deps.metrics);
  const meta = observeProvider('META', observer, metaClient);
  const evolution = observeProvider('EVO_GO', observer, evolutionClient);

  // Everything that may queue events writes through callDb, which wakes the in-process worker after commits
  // and counts the calls its transactions ended.
  const queued = deps.wakeDeliveries ? notifyingDb(db, deps.wakeDeliveries) : db;
  const metrics = deps.metrics;
  const callDb = metrics
    ? endedCallsDb(queued, (call) =>
        metrics.callsEnded.inc({ status: call.status, ended_by: call.endedBy ?? 'UNKNOWN' }),
      )
    : queued;
  const slots = new ActionSlots(callDb, clock, config.providerTimeoutMs);
  const providerEvents = new ProviderEvents({ db: callDb, slots, clock, config, logger });
  const mergeConfig = (id: NumberRecordId, patch: Record<string, unknown>) =>
    mergeNumberPublicConfig(db, id, patch, clock.now().toISOString());
  // This process as a media node (API processes only): the rows naming it as the holder of its calls' server media
  // and of its sandbox users, its heartbeat, and its look for the calls of processes that stopped beating.
  const node: MediaNode | null = deps.realtime
    ? new MediaNode({
        db: callDb,
        now: () => clock.now(),
        logger,
        holding: (): number => (media?.size ?? 0) + sandboxSimulator.liveUsers,
        onMediaLost: async (callId, numberId) => {
          await calls?.endForMedia(numberId, callId, 'media_lost');
        },
        onRecordingLost: (callId, numberId) => recordings.lost(callId, numberId),
        onSandboxUserLost: (user) => sandboxCalls.endLostUser(user),
      })
    : null;
  // The sandbox's users reach the call machine the way Meta's webhooks do: provider events and permission replies.
  const sandboxSimulator = new SandboxSimulator({
    peers: sandboxPeers(config.sandboxMediaAddresses),
    clock,
    logger,
    applyEvent: (number, event, direction, providerData) =>
      providerEvents.apply(number, event, direction, providerData),
    recordPermissionReply: (number, reply) => metaCalling.recordPermissionReply(number, reply),
    loadNumber: (id) => getNumberById(db, id),
    mergeNumberConfig: mergeConfig,
    ...(node
      ? {
          users: {
            hold: (numberId, externalCallId) => node.holdSandboxUser(numberId, externalCallId),
            release: (numberId, externalCallId) => node.releaseSandboxUser(numberId, externalCallId),
          },
        }
      : {}),
    allowInsecureAudioUrls: config.webhookAllowInsecureUrls,
  });
  const sandbox = new SandboxProvider(sandboxSimulator, (n, calling) => mergeConfig(n.id, { calling }));
  const providers: ProviderRegistry = deps.providers
    ? observedRegistry(deps.providers, observer)
    : providerRegistry({ META: meta, EVO_GO: evolution, SANDBOX: observeProvider('SANDBOX', observer, sandbox) });
  const metaFeatures = metaFeaturesRegistry({ META: meta, SANDBOX: sandbox });
  const metaCalling = new MetaCalling({ db: callDb, meta: metaFeatures, providers, clock });
  const recordings = new Recordings({ db: callDb, clock, logger, recordingsDir: config.media.recordingsDir });
  const keypad = new Keypad({ db: callDb, clock });
  // The engine reports media failures to the call service, which is built with the engine: bound after both exist.
  let calls: CallService | null = null;
  const media =
    deps.realtime && node
      ? new MediaEngine({
          config: config.media,
          db: callDb,
          realtime: deps.realtime,
          logger,
          now: () => clock.now(),
          allowInsecureUrls: config.webhookAllowInsecureUrls,
          databaseUrl: config.databaseUrl,
          fallbackWsBaseUrl: `ws://${hostname()}:${config.port}`,
          onRecordingDone: (r) => recordings.finished(r),
          onKeyPressed: (k) => {
            keypad
              .pressed(k)
              .catch((err) =>
                logger.error({ err: err.message, callId: k.callId }, 'could not queue a call.dtmf event'),
              );
          },
          ...(metrics ? { observer: mediaObserver(metrics) } : {}),
          node,
          onMediaFailure: (callId, numberId) => {
            calls
              ?.endForMedia(numberId, callId)
              .catch((err) => logger.error({ err: err.message, callId }, 'could not end a call whose media failed'));
          },
        })
      : null;
  calls = new CallService({
    db: callDb,
    providers,
    metaFeatures,
    providerMedia: new EvolutionMedia({
      db: callDb,
      evolution,
      providers,
      allowInsecureUrls: config.webhookAllowInsecureUrls,
      ...(deps.hostLookup ? { lookup: deps.hostLookup } : {}),
    }),
    slots,
    clock,
    config,
    logger,
    media,
  });
  const sandboxCalls = new SandboxCalls({ db: callDb, simulator: sandboxSimulator, providers });
  return {
    box,
    numbers,
    meta,
    evolution,
    providers,
    slots,
    providerEvents,
    calls,
    media,
    recordings,
    // In API processes, where the recordings are written and served; off unless RECORDING_RETENTION_DAYS is set.
    recordingRetention:
      deps.realtime && config.media.recordingRetentionDays > 0
        ? new RecordingRetention({
            db: callDb,
            clock,
            logger,
            recordingsDir: config.media.recordingsDir,
            retentionDays: config.media.recordingRetentionDays,
          })
        : null,
    sandboxSimulator,
    sandboxCalls,
    node,
    outbound: new OutboundCalls({ db: callDb, providers, events: providerEvents, clock, media }),
    metaCalling,
    sweeper: new Sweeper({ db: callDb, slots, providers, clock, config, logger }),
  };
}

type NumberRecordId = Parameters<typeof mergeNumberPublicConfig>[1];

/** Sandbox media on loopback only when that is all that is configured; on the given or every address otherwise. */
function sandboxPeers(addresses: readonly string[]): PeerFactory {
  if (addresses.length === 1 && addresses[0] === '127.0.0.1') {
    return createPeerFactory(LOOPBACK_ICE);
  }
  return createPeerFactory({ kind: 'configured', announceAddresses: [...addresses] });
}
