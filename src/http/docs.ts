// GET /openapi.json and /docs: the OpenAPI document and its browsable reference, set up on the first request to
// either. @fastify/swagger and @fastify/swagger-ui (with @fastify/static, yaml, glob, json-schema-resolver) cost
// ~90 ms of every start, for pages most processes never serve. They run in a second Fastify instance, built like the
// app's (same options, request ids and error envelope, see createFastify in app.ts), which is given the app's shared
// schemas and every route of the app (recorded as they were added, replayed in the same order with handlers that
// are never reached), so it describes the same API; requests under /docs are handed to its router untouched.
import type { SwaggerOptions } from '@fastify/swagger';
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { ApiError, type ErrorCode } from '../errors.ts';
import { DOCS_INTRO, DOCS_LOGO_SVG, DOCS_THEME_CSS, TAGS } from './docs-content.ts';
import { addExamples } from './openapi-examples.ts';
import { registerErrorHandling } from './plugins/errors.ts';
import { IDEMPOTENT_POST_ERRORS, STORE_ERRORS, withErrorResponses } from './schemas/common.ts';
import type { App } from './types.ts';

const DOCS_PREFIX = '/docs';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route drains any body unread (terminate): it can answer neither 413 nor 415. */
    bodyNeverParsed?: true;
  }
}

const BODY_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'];
/** A body over the limit, or of a type other than JSON. */
const BODY_ERRORS: ErrorCode[] = ['PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];

const SWAGGER_OPTIONS: SwaggerOptions = {
  // Shared schemas keep their names (Call, Number, ...) as OpenAPI components.
  refResolver: {
    buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
  },
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'callgate API',
      version: '1.0.0',
      description: DOCS_INTRO,
    },
    // Relative: the server that serves this document is the one it describes.
    servers: [{ url: '/', description: 'This callgate server' }],
    tags: TAGS,
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'Your ps_ API key' },
        apiKeyId: {
          type: 'apiKey',
          in: 'header',
          name: 'x-api-key-id',
          description: 'API key id (alternative to x-api-key)',
        },
      },
    },
  },
  // Every request and response body gets an example (http/openapi-examples.ts).
  transformObject: (document) => {
    if (!('openapiObject' in document)) {
      return document.swaggerObject;
    }
    addExamples(document.openapiObject as Parameters<typeof addExamples>[0]);
    return document.openapiObject;
  },
};

const isDocsUrl = (url: string) => url === DOCS_PREFIX || url.startsWith(`${DOCS_PREFIX}/`);

/** Call before any route is added: the routes added after it are the ones the document describes. */
export function registerDocs(app: App, newApp: () => App): void {
  const routes: RouteOptions[] = [];
  // HEAD routes are Fastify's own copies of the GET ones (and @fastify/swagger leaves them out).
  app.addHook('onRoute', (route) => {
    if (route.method !== 'HEAD' && !isDocsUrl(route.url)) {
      routes.push(route as RouteOptions);
    }
  });

  let built: Promise<App> | undefined;
  const docs = () =>
    (built ??= buildDocsApp(app, routes, newApp).catch((error: unknown) => {
      built = undefined;
      throw error;
    }));

  app.get('/openapi.json', { schema: { hide: true } }, async () => (await docs()).swagger());
  // The docs instance logs these requests (as the app did when it served them itself), so the app does not.
  const handOver = { schema: { hide: true }, logLevel: 'silent' } as const;
  const serve = async (request: FastifyRequest, reply: FastifyReply) => {
    let docsApp: App;
    try {
      docsApp = await docs();
    } catch (error) {
      app.log.error({ err: error }, 'could not set up /docs');
      throw error;
    }
    reply.hijack();
    docsApp.routing(request.raw, reply.raw);
  };
  app.get(DOCS_PREFIX, handOver, serve);
  app.get(`${DOCS_PREFIX}/*`, handOver, serve);
}

async function buildDocsApp(app: App, routes: readonly RouteOptions[], newApp: () => App): Promise<App> {
  const [{ default: swagger }, { default: swaggerUi }] = await Promise.all([
    import('@fastify/swagger'),
    import('@fastify/swagger-ui'),
  ]);
  const docsApp = newApp();
  // The order the app used to register them in: the document lists paths and components in that order.
  await docsApp.register(swagger, SWAGGER_OPTIONS);
  await docsApp.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    logo: { type: 'image/svg+xml', content: Buffer.from(DOCS_LOGO_SVG), href: DOCS_PREFIX, target: '_self' },
    theme: {
      title: 'callgate API reference',
      css: [{ filename: 'callgate.css', content: DOCS_THEME_CSS }],
      favicon: [
        {
          filename: 'favicon.svg',
          rel: 'icon',
          sizes: 'any',
          type: 'image/svg+xml',
          content: Buffer.from(DOCS_LOGO_SVG),
        },
      ],
    },
    uiConfig: { docExpansion: 'list', deepLinking: true, displayOperationId: true, defaultModelsExpandDepth: 0 },
  });
  for (const schema of Object.values(app.getSchemas())) {
    docsApp.addSchema(schema as { $id: string });
  }
  registerErrorHandling(docsApp);
  const unreachable = async () => {
    throw new ApiError('NOT_FOUND');
  };
  for (const route of routes) {
    docsApp.route({
      method: route.method,
      url: route.url,
      handler: unreachable,
      ...(route.schema ? { schema: documented(route) } : {}),
      ...(route.config ? { config: route.config } : {}),
      ...(route.constraints ? { constraints: route.constraints } : {}),
    });
  }
  await docsApp.ready();
  return docsApp;
}

/**
 * The route's schema as documented: a route that takes no key says so (`security: []`), from its auth config;
 * a WebSocket route is shown although @fastify/websocket marks every one hidden.
 */
function documented(route: RouteOptions): NonNullable<RouteOptions['schema']> {
  const given = route.schema ?? {};
  let schema = (route as { websocket?: boolean }).websocket ? { ...given, hide: false } : given;
  const auth = (route.config as { auth?: string } | undefined)?.auth ?? 'none';
  if (auth === 'none') {
    return 'security' in schema ? schema : { ...schema, security: [] };
  }
  const methods = [route.method].flat();
  if (schema.response) {
    // Every keyed route reads its key from the store, and PUT, PATCH and DELETE write: a store that cannot answer
    // is a 503 on any of them, not only on the POSTs whose Idempotency-Key is written.
    const codes = methods.includes('POST') ? IDEMPOTENT_POST_ERRORS : STORE_ERRORS;
    // Fastify parses the body of these methods before any handler, with or without a body schema.
    const parsesBody = methods.some((m) => BODY_METHODS.includes(m)) && !route.config?.bodyNeverParsed;
    schema = {
      ...schema,
      response: withErrorResponses(schema.response as Record<number, unknown>, [
        ...codes,
        ...(parsesBody ? BODY_ERRORS : []),
      ]),
    };
  }
  return schema;
}
