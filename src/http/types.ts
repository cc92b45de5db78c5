import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { MetaCalling } from '../calls/meta-calling.ts';
import type { OutboundCalls } from '../calls/outbound.ts';
import type { Recordings } from '../calls/recordings.ts';
import type { SandboxCalls } from '../calls/sandbox.ts';
import type { CallService } from '../calls/service.ts';
import type { Config } from '../config.ts';
import type { RealtimeHub } from '../media/engine/realtime-hub.ts';
import type { NumberService } from '../numbers/service.ts';
import type { WebOnboarding } from '../numbers/web-onboarding.ts';
import type { Db } from '../store/db.ts';
import type { StoreReadiness } from '../store/readiness.ts';
import type { WebhookService } from '../webhooks/service.ts';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What route handlers may use: services, never SQL or provider HTTP. */
export interface RouteDeps {
  config: Config;
  db: Db;
  calls: CallService;
  outbound: OutboundCalls;
  metaCalling: MetaCalling;
  numbers: NumberService;
  webhooks: WebhookService;
  readiness: StoreReadiness;
  /** Web numbers onboarded by QR through the operator's Evolution Go server (Pilot). */
  webOnboarding: WebOnboarding;
  /** Calls whose media runs in this process, and the tokens that open their realtime sockets. */
  realtime: RealtimeHub;
  recordings: Recordings;
  sandbox: SandboxCalls;
}
