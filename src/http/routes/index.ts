// Every route of the API, grouped by resource: the whole surface on one screen.
import type { EvolutionInboundDeps } from '../../calls/inbound/evolution.ts';
import type { MetaInboundDeps } from '../../calls/inbound/meta.ts';
import { type Metrics, registerMetricsRoute } from '../../metrics.ts';
import { registerDocs } from '../docs.ts';
import type { App, RouteDeps } from '../types.ts';
import { apiKeyRoutes } from './api-keys/api-keys.ts';
import { pilotApiKeyRoutes } from './api-keys/pilot-keys.ts';
import { acceptCallRoute } from './calls/accept.ts';
import { createCallRoute } from './calls/create.ts';
import { callEventsRoute } from './calls/events.ts';
import { getCallRoute } from './calls/get.ts';
import { listCallsRoute } from './calls/list.ts';
import { callMediaRoutes } from './calls/media.ts';
import { callPermissionRoutes } from './calls/permissions.ts';
import { preAcceptCallRoute } from './calls/pre-accept.ts';
import { callRecordingRoutes } from './calls/recording.ts';
import { rejectCallRoute } from './calls/reject.ts';
import { callSettingsRoutes } from './calls/settings.ts';
import { terminateCallRoute } from './calls/terminate.ts';
import { dashboardRoutes } from './dashboard/dashboard.ts';
import { eventStreamRoute } from './events/stream.ts';
import { healthRoutes } from './health/health.ts';
import { realtimeSocketRoute } from './media/realtime.ts';
import { numberConnectionRoutes } from './numbers/connection.ts';
import { numberRoutes } from './numbers/numbers.ts';
import { notOfferedRoutes } from './pilot/not-offered.ts';
import { evolutionWebhookRoutes } from './providers/evolution-webhook.ts';
import { metaWebhookRoutes } from './providers/meta-webhook.ts';
import { rootRoute } from './root.ts';
import { sandboxRoutes } from './sandbox/calls.ts';
import { webhookEventTypesRoute } from './webhooks/event-types.ts';
import { webhookLogsRoute } from './webhooks/logs.ts';
import { replayWebhookRoute } from './webhooks/replay.ts';
import { rotateWebhookSecretRoute } from './webhooks/rotate-secret.ts';
import { webhookRoutes } from './webhooks/webhooks.ts';

export interface SurfaceDeps extends RouteDeps {
  metaInbound: MetaInboundDeps;
  evolutionInbound: EvolutionInboundDeps;
  /** The process's metrics, served at GET /metrics. */
  metrics: Metrics;
  /** A bare app like this one, for the reference at /docs and /openapi.json to be built in on first use. */
  newDocsApp: () => App;
}

export function registerRoutes(app: App, deps: SurfaceDeps): void {
  // GET /openapi.json and /docs first: they describe every route registered after them.
  registerDocs(app, deps.newDocsApp);
  healthRoutes(app, deps);
  registerMetricsRoute(app, deps.metrics, deps.config.metricsToken);

  numberRoutes(app, deps);
  numberConnectionRoutes(app, deps);
  apiKeyRoutes(app, deps);
  pilotApiKeyRoutes(app, deps);
  notOfferedRoutes(app);

  // Static /v1/calls/* paths win over /v1/calls/:callId in the router, whatever the order here.
  callSettingsRoutes(app, deps);
  callPermissionRoutes(app, deps);
  createCallRoute(app, deps);
  listCallsRoute(app, deps);
  getCallRoute(app, deps);
  callEventsRoute(app, deps);
  preAcceptCallRoute(app, deps);
  acceptCallRoute(app, deps);
  rejectCallRoute(app, deps);
  terminateCallRoute(app, deps);
  callMediaRoutes(app, deps);
  callRecordingRoutes(app, deps);
  realtimeSocketRoute(app, deps);

  sandboxRoutes(app, deps);

  // The static /v1/webhooks/event-types wins over /v1/webhooks/:id in the router.
  webhookEventTypesRoute(app);
  webhookRoutes(app, deps);
  rotateWebhookSecretRoute(app, deps);
  webhookLogsRoute(app, deps);
  replayWebhookRoute(app, deps);

  eventStreamRoute(app, deps);
  rootRoute(app);
  dashboardRoutes(app);

  metaWebhookRoutes(app, deps.metaInbound);
  evolutionWebhookRoutes(app, deps.evolutionInbound);
}
