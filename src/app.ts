// buildApp: the only wiring file. Ecosystem plugins, then ours (request id, errors, auth + rate limit), then routes.

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import type { Logger } from 'pino';
import { SecretBox } from './auth/secret-box.ts';
import { longestActionRequestMs } from './calls/action-slots.ts';
import type { RecordingRetention } from './calls/recording-retention.ts';
import type { Sweeper } from './calls/sweeper.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import { ApiError, ERRORS, type ErrorCode } from './errors.ts';
import { registerAuth } from './http/plugins/auth.ts';
import { clippedReason, registerErrorHandling, sendError } from './http/plugins/errors.ts';
import { registerIdempotency } from './http/plugins/idempotency.ts';
import { type SchemaCompilers, schemaCompilers } from './http/plugins/validator.ts';
import { registerRoutes } from './http/routes/index.ts';
import { CallSchema } from './http/schemas/call.ts';
import { ErrorEnvelope } from './http/schemas/common.ts';
import { NumberSchema } from './http/schemas/number.ts';
import { WebhookSchema } from './http/schemas/webhook.ts';
import type { App } from './http/types.ts';
import { newRequestId } from './ids.ts';
import type { MediaEngine } from './media/engine/engine.ts';
import { RealtimeHub } from './media/engine/realtime-hub.ts';
import {
  createMetrics,
  type Metrics,
  registerHttpMetrics,
  registerMediaMetrics,
  registerStoreGauges,
} from './metrics.ts';
import { WebOnboarding } from './numbers/web-onboarding.ts';
import type { ProviderRegistry } from './providers/registry.ts';
import type { RateLimiter } from './ratelimit/types.ts';
import { buildServices } from './services.ts';
import type { Db } from './store/db.ts';
import { StoreReadiness } from './store/readiness.ts';
import { WebhookService } from './webhooks/service.ts';
import type { HostLookup } from './webhooks/url-guard.ts';

export interface AppDeps {
  config: Config;
  db: Db;
  secretKey: string;
  clock: Clock;
  logger: Logger;
  rateLimiter: RateLimiter;
  /** Tests may replace the provider adapters; by default they are built from config. */
  providers?: ProviderRegistry;
  /** The process's metrics registry (shared with its in-process worker); a fresh one by default. */
  metrics?: Metrics;
  /** Wakes the in-process webhook worker after a commit that may have queued deliveries. */
  wakeDeliveries?: () => void;
  /** The validators' and serializers' compilers; the test helper passes its own to compile every schema at once. */
  schemaCompilers?: SchemaCompilers;
  /** DNS used by the URL checks of webhook targets and of media URLs handed to providers; tests inject one. */
  webhookHostLookup?: HostLookup;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Calls whose media runs in this process, for realtime sockets. */
    realtime: RealtimeHub;
    /** This process's server media engine. */
    media: MediaEngine;
  }
}

// Not an ES import of node:http, which would load Node's bundled undici for its WebSocket export (see meta/client.ts).
const { STATUS_CODES } = process.getBuiltinModule('node:http');

function answerClientError(this: { log: FastifyBaseLogger }, error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) {
    return;
  }
  this.log.trace({ err: error }, 'client error');
  const code: ErrorCode =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 'HEADERS_TOO_LARGE'
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'REQUEST_TIMEOUT'
        : 'VALIDATION_ERROR';
  const { status, text } = ERRORS[code];
  const requestId = newRequestId();
  const body = JSON.stringify({ error: text, code, requestId });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Health probes, whose successful answers are logged at debug. */
const PROBE_ROUTES = new Set(['/healthz', '/readyz']);

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * A Fastify instance with the API's options, request ids, Host check and refusal of text bodies: the app's own,
 * and the one that serves /openapi.json and /docs (http/docs.ts), so that both answer alike.
 */
function createFastify(logger: Logger, compilers: SchemaCompilers = schemaCompilers()): App {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One line per request (below, when it is answered), not Fastify's two ("incoming" and "completed").
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Slow clients are cut: headers within 10 s, the whole request within 30 s, checked every second.
    http: {
      headersTimeout: 10_000,
      requestTimeout: 30_000,
      connectionsCheckingInterval: 1_000,
      requireHostHeader: false,
    },
    // Fastify sets the server's requestTimeout itself after creating it (0 by default): say it here too.
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    keepAliveTimeout: 72_000,
    // What Node's HTTP parser refuses (oversized headers, garbage, timeouts) still gets the envelope.
    clientErrorHandler: answerClientError,
    // Echo a client's sane x-request-id, otherwise make one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : newRequestId();
    },
    routerOptions: { maxParamLength: 1024 },
    // Errors raised before routing (a URL that does not decode, say) get the same envelope as the rest.
    frameworkErrors: (error, request, reply) => {
      // No hook runs for these: an upgrade request's socket is closed here once answered (see onResponse below).
      if (isUpgrade(request.raw)) {
        reply.raw.once('finish', () => request.raw.socket.destroy());
      }
      void sendError(
        request,
        reply,
        new ApiError('VALIDATION_ERROR', { details: { reason: clippedReason(error.message) } }),
      );
    },
    // Our Ajv validators and Fastify's serializers, each compiled on its route's first request (see validator.ts).
    schemaController: { compilersFactory: compilers.compilersFactory },
    // Fastify's own 503 while closing has no envelope; the onRequest hook below answers instead.
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  // A JSON API: text bodies are refused with 415 rather than half-parsed.
  app.removeContentTypeParser('text/plain');
  // Pilot's clients send Content-Type: application/json on every request, bodyless POSTs and DELETEs included
  // (reject, rotate-secret, connect): an empty JSON body is no body, not a 400. Any other goes to Fastify's parser.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    // Read in the charset the request names (UTF-8 when it names none, as RFC 8259 has JSON sent): a UTF-16 body
    // read as UTF-8 was "not valid JSON", and a latin1 name was stored garbled. A charset no decoder knows is a 415.
    const text = decodeBody(body, charsetOf(request.headers['content-type']));
    if (text instanceof ApiError) {
      done(text);
      return;
    }
    parseJson(request, text, (error, value) => {
      // PostgreSQL cannot store a NUL in text: refused here, before an action reaches the provider, not a 500 after.
      if (!error && text.includes('\\u0000') && holdsNul(value)) {
        done(new ApiError('VALIDATION_ERROR', { details: { reason: 'a string holds a NUL character (\\u0000)' } }));
        return;
      }
      // No schema nests this deep, but a field that takes any JSON (voicemail) would carry it on to JSON.stringify,
      // whose recursion overflows the stack some thousands of levels down: a 500 after the request was taken.
      if (!error && nestedDeeperThan(value, MAX_BODY_DEPTH)) {
        done(new ApiError('VALIDATION_ERROR', { details: { reason: 'request body is nested too deeply' } }));
        return;
      }
      done(error, value);
    });
  });

  // A request with no body is not refused for the Content-Type it names (415): clients set one on every request,
  // axios and PHP's curl a form type on a bodyless POST, and Pilot's reject, rotate-secret, connect and DELETEs take
  // none. Without the header Fastify hands such a request to its route unparsed, as one that names no type.
  app.addHook('onRequest', (request, _reply, done) => {
    const { headers } = request;
    const length = headers['content-length'];
    if (headers['transfer-encoding'] === undefined && (length === undefined || length === '0')) {
      delete headers['content-type'];
    }
    done();
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Nothing callgate serves is meant to be framed or read as another type: /docs (Swagger UI, where keys are
    // typed) could otherwise be framed by any page for clickjacking. The dashboard sets its own stricter policy.
    if (!reply.hasHeader('x-content-type-options')) {
      reply.header('x-content-type-options', 'nosniff');
    }
    if (!reply.hasHeader('x-frame-options')) {
      reply.header('x-frame-options', 'DENY');
    }
  });
  // An upgrade request answered over HTTP (refused by a hook that runs before the WebSocket plugin marks it) leaves
  // a socket Node no longer watches: no timeout ends it, and the server's close waits on it until the shutdown
  // deadline. Once the answer is out, it is closed. An accepted upgrade hijacks its reply and never gets here.
  app.addHook('onResponse', async (request) => {
    if (isUpgrade(request.raw) && !request.raw.socket.destroyed) {
      request.raw.socket.destroy();
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    // A load balancer probes every second or so: its answered probes are debug lines, not a flood at info; a probe
    // that failed (a 503 from /readyz) is logged like any other failure.
    const level =
      reply.statusCode >= 500
        ? 'warn'
        : reply.statusCode < 400 && PROBE_ROUTES.has(request.routeOptions.url ?? '')
          ? 'debug'
          : 'info';
    request.log[level](
      { req: request, res: { statusCode: reply.statusCode }, responseTime: Math.round(reply.elapsedTime * 10) / 10 },
      `${request.method} ${request.routeOptions.url ?? 'unrouted'} ${reply.statusCode}`,
    );
  });
  // Draining (app.close() called): in-flight requests finish, a new one on a kept-alive connection gets the envelope,
  // Retry-After, and Connection: close so the client reconnects elsewhere.
  let draining = false;
  // A connection that has sent nothing when the drain begins, or that opens during it (a keep-alive client replacing
  // a socket the drain closed), would hold close() up: Node counts it as waiting for headers and stops checking
  // header timeouts once closing, so it lasted until the 60 s connection timeout. Nothing was asked on it: closed.
  const sockets = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    if (draining) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  app.addHook('preClose', async () => {
    draining = true;
    for (const socket of sockets) {
      if (socket.bytesRead === 0) {
        socket.destroy();
      }
    }
  });
  // A request that was in flight when the drain began closes its connection once answered: kept alive, the
  // connection would hold close() until its keep-alive timeout (the server's 15 s grace in practice).
  app.addHook('onSend', async (_request, reply) => {
    if (draining) {
      reply.header('connection', 'close');
    }
  });
  app.addHook('onRequest', async () => {
    if (draining) {
      throw new ApiError('SERVICE_UNAVAILABLE', {
        message: 'The server is shutting down; retry the request',
        headers: { 'retry-after': '1', connection: 'close' },
      });
    }
  });
  // HTTP/1.1 requires Host; Node's own refusal would be an empty 400, this one has the envelope.
  app.addHook('onRequest', async (request) => {
    if (!request.headers.host && request.raw.httpVersion === '1.1') {
      throw new ApiError('VALIDATION_ERROR', { details: { reason: 'the Host header is required' } });
    }
  });
  return app;
}

/** The app, and the sweeper built on the same services for the process that runs it to start (server.ts). */
export interface AppWithSweeper {
  app: App;
  sweeper: Sweeper;
  /** Set with RECORDING_RETENTION_DAYS; its loop runs with the app (tests call expireOnce()). */
  recordingRetention: RecordingRetention | null;
}

export async function buildApp(deps: AppDeps): Promise<App> {
  return (await buildAppWithSweeper(deps)).app;
}

export async function buildAppWithSweeper(deps: AppDeps): Promise<AppWithSweeper> {
  const app = createFastify(deps.logger, deps.schemaCompilers);
  const metrics = deps.metrics ?? createMetrics();
  registerHttpMetrics(app, metrics);

  for (const schema of [ErrorEnvelope, CallSchema, NumberSchema, WebhookSchema]) {
    app.addSchema(schema);
  }
  const readiness = new StoreReadiness(deps.db);
  registerErrorHandling(app, { onStoreUnavailable: (kind) => readiness.noteFailure(kind) });
  // Set once the media engine exists (below): the sockets' close at shutdown closes it first.
  let closeMedia = async () => {};
  // Realtime media sockets; a client frame over 1 MiB (~30 s of pcm16) is refused by ws itself. A client that does
  // not answer our close frame within 5 s (it stopped reading, or its host is gone) has its connection cut: ws's
  // own 30 s wait outlasted the shutdown's deadline, so one such client made every SIGTERM exit 1. (closeTimeout is
  // ws's, not yet in @types/ws: a variable, not a literal, so the type check lets it through.)
  const wsOptions = { maxPayload: 1024 * 1024, closeTimeout: 5000 };
  await app.register(websocket, {
    options: wsOptions,
    // At shutdown the calls' media ends first, so each realtime socket gets `stop` and a 1000 close as on any end of
    // its call; the plugin's own close came first, with no status (1005 at the client) and no `stop`.
    preClose: async function closeSockets(this: App) {
      await closeMedia();
      for (const client of this.websocketServer.clients) {
        client.close(1001, 'shutdown');
      }
      this.websocketServer.close();
    },
    // A client breaking the protocol (oversized or malformed frames, a reset) is the client's doing: ws has already
    // closed with the right code, and it is logged as such. Anything else is ours, and stays an error.
    errorHandler: (error, socket, request) => {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (code.startsWith('WS_ERR_') || code === 'ECONNRESET' || code === 'EPIPE') {
        request.log.info({ code, reason: error.message }, 'realtime socket closed on a client protocol error');
      } else {
        request.log.error({ err: error }, 'realtime socket failed');
      }
      socket.terminate();
    },
  });
  // The plugin upgrades a WebSocket request to any route, then closes a socket no handler takes (101, then a close
  // frame): a client that dials the wrong path gets an HTTP answer saying so instead.
  app.addHook('onRequest', async (request) => {
    const isSocketRoute = (request.routeOptions.config as { websocket?: boolean } | undefined)?.websocket === true;
    // request.ws: the plugin's own mark of a request that really is an upgrade (not just a header saying so).
    if ((request as { ws?: boolean }).ws === true && !isSocketRoute && request.routeOptions.url) {
      throw new ApiError('VALIDATION_ERROR', {
        details: { reason: 'this is no WebSocket endpoint: a realtime session’s wsUrl is /v1/media/realtime' },
      });
    }
  });
  registerAuth(app, { db: deps.db, config: deps.config, rateLimiter: deps.rateLimiter, now: () => deps.clock.now() });
  registerIdempotency(app, {
    db: deps.db,
    box: new SecretBox(deps.secretKey, deps.config.previousSecretKey),
    now: () => deps.clock.now(),
    // A terminate waiting on its key outwaits the first one's longest run, which may itself wait behind an accept.
    maxWaitMs: longestActionRequestMs(deps.config.providerTimeoutMs) + 5_000,
    abandonedAfterMs: Math.max(60_000, longestActionRequestMs(deps.config.providerTimeoutMs) + 10_000),
  });

  const realtime = new RealtimeHub(() => deps.clock.now().getTime());
  app.decorate('realtime', realtime);
  const {
    box,
    numbers,
    calls,
    outbound,
    metaCalling,
    providerEvents,
    sweeper,
    sandboxSimulator,
    sandboxCalls,
    media,
    node,
    recordings,
    recordingRetention,
    slots,
  } = buildServices({
    realtime,
    config: deps.config,
    db: deps.db,
    secretKey: deps.secretKey,
    clock: deps.clock,
    logger: deps.logger,
    metrics,
    ...(deps.providers ? { providers: deps.providers } : {}),
    ...(deps.wakeDeliveries ? { wakeDeliveries: deps.wakeDeliveries } : {}),
    ...(deps.webhookHostLookup ? { hostLookup: deps.webhookHostLookup } : {}),
  });
  const wake = deps.wakeDeliveries;
  // Settles still retried when the app closes would run against a closed store.
  app.addHook('onClose', () => slots.stop());
  app.addHook('onClose', () => calls.stop());

  const webhooks = new WebhookService({
    db: deps.db,
    box,
    clock: deps.clock,
    config: deps.config,
    ...(deps.webhookHostLookup ? { lookup: deps.webhookHostLookup } : {}),
    ...(wake ? { onQueued: wake } : {}),
  });
  registerStoreGauges(metrics, deps.db, deps.clock);

  if (media) {
    registerMediaMetrics(metrics, media);
    app.decorate('media', media);
    await media.start();
    // Only once listening: a port in use fails the start before any warm-up work or "warmed up" line.
    app.addHook('onListen', (done) => {
      media.warm();
      done();
    });
  }
  if (node) {
    // With the engine off too: the sandbox's simulated users are held by this node as well.
    node.start();
  }
  recordingRetention?.start();
  closeMedia = async () => {
    await recordingRetention?.stop(); // its pass finishes while the store is open
    // Its calls lose their media now (server media and simulated users): another process ends them at its next look
    // instead of after the heartbeat goes stale.
    await node?.stop();
    // Calls still up lose their media on shutdown: sockets get stop + 1000 and recordings are finished.
    await media?.close();
  };

  const webOnboarding = new WebOnboarding({
    db: deps.db,
    box,
    clock: deps.clock,
    config: deps.config,
    logger: deps.logger,
  });
  registerRoutes(app, {
    metrics,
    newDocsApp: () => createFastify(deps.logger),
    config: deps.config,
    realtime,
    recordings,
    db: deps.db,
    calls,
    outbound,
    metaCalling,
    numbers,
    webhooks,
    readiness,
    webOnboarding,
    sandbox: sandboxCalls,
    metaInbound: {
      db: deps.db,
      events: providerEvents,
      metaCalling,
      clock: deps.clock,
      logger: deps.logger,
      secretsOf: (n) => numbers.metaSecrets(n),
    },
    evolutionInbound: {
      db: deps.db,
      events: providerEvents,
      clock: deps.clock,
      logger: deps.logger,
      secretsOf: (n) => numbers.evolutionSecrets(n),
      onPaired: (n, phone) => webOnboarding.claimPhone(n, phone),
    },
  });
  app.addHook('onClose', async () => {
    await sandboxSimulator.close();
    await deps.rateLimiter.close();
  });
  return { app, sweeper, recordingRetention };
}

/** Node's parser marks a request that asked for an upgrade (`Connection: Upgrade`); its typings do not say so. */
function isUpgrade(raw: object): boolean {
  return (raw as { upgrade?: unknown }).upgrade === true;
}

/** The body as text in its charset, or the 415 for a charset no decoder knows. */
function decodeBody(body: Buffer, charset: string | undefined): string | ApiError {
  if (charset === undefined || /^utf-?8$/i.test(charset)) {
    return body.toString();
  }
  try {
    return new TextDecoder(charset).decode(body);
  } catch {
    return new ApiError('UNSUPPORTED_MEDIA_TYPE', {
      details: { reason: clippedReason(`charset=${charset} is not one callgate can read: send UTF-8`) },
    });
  }
}

/** The charset parameter of a Content-Type header (unquoted), or undefined when it names none. */
function charsetOf(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*(?:"([^"]*)"|([^\s;]*))/i.exec(contentType ?? '');
  return match === null ? undefined : (match[1] ?? match[2]);
}

/** Levels of arrays and objects a JSON body may nest: every schema stops within ten. */
const MAX_BODY_DEPTH = 64;

/** Whether arrays and objects nest more than `max` levels in a parsed JSON value; without recursion. */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) {
      continue;
    }
    if (depth >= max) {
      return true;
    }
    for (const item of Array.isArray(v) ? v : Object.values(v)) {
      stack.push([item, depth + 1]);
    }
  }
  return false;
}

/** Whether a parsed JSON value has a NUL in any string or key; without recursion, as bodies may nest 100k deep. */
function holdsNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\u0000')) {
        return true;
      }
    } else if (Array.isArray(v)) {
      for (const item of v) {
        stack.push(item);
      }
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, item] of Object.entries(v)) {
        if (k.includes('\u0000')) {
          return true;
        }
        stack.push(item);
      }
    }
  }
  return false;
}
