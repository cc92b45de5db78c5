// Every route of the API, grouped by resource: the whole surface on one screen.
import type { MetaInboundDeps } from '../../providers/meta/inbound.ts';
import type { App, RouteDeps } from '../types.ts';
import { apiKeyRoutes } from './api-keys/api-keys.ts';
import { acceptCallRoute } from './calls/accept.ts';
import { getCallRoute } from './calls/get.ts';
import { listCallsRoute } from './calls/list.ts';
import { rejectCallRoute } from './calls/reject.ts';
import { terminateCallRoute } from './calls/terminate.ts';
import { healthRoutes } from './health/health.ts';
import { numberRoutes } from './numbers/numbers.ts';
import { metaWebhookRoutes } from './providers/meta-webhook.ts';

export function registerRoutes(app: App, deps: RouteDeps & { metaInbound: MetaInboundDeps }): void {
  healthRoutes(app, deps);

  numberRoutes(app, deps);
  apiKeyRoutes(app, deps);

  listCallsRoute(app, deps);
  getCallRoute(app, deps);
  acceptCallRoute(app, deps);
  rejectCallRoute(app, deps);
  terminateCallRoute(app, deps);

  metaWebhookRoutes(app, deps.metaInbound);
}
