// GET /v1/media/realtime?token=…[&format=twilio|pcm16]: the WebSocket a realtime session's wsUrl points at.
// The token is checked before the upgrade, so a bad or used one gets a plain 401 envelope, not a socket.
// `format` may be given twice (wsUrl carries format=twilio and a client appends its own): the last one wins.

import type { FastifyRequest } from 'fastify';
import { ApiError } from '../../../errors.ts';
import type { RealtimeHub } from '../../../media/engine/realtime-hub.ts';
import { attachRealtimeSocket, REALTIME_FORMATS, type RealtimeFormat } from '../../../media/engine/realtime-socket.ts';
import { errorResponses } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App } from '../../types.ts';

const Format = Type.Enum([...REALTIME_FORMATS]);
const schema = {
  tags: ['Calls'],
  summary: 'The realtime media WebSocket (server media)',
  operationId: 'openRealtimeSocket',
  description:
    "The socket a realtime session's `wsUrl` points at: connect to `wsUrl` as given (a WebSocket upgrade; the " +
    'single-use token is the credential, no API key). `format=twilio` (the default) speaks Twilio Media Streams ' +
    'JSON (`connected`, `start`, `media` with 8 kHz μ-law in base64, `mark`, `stop`; the client sends `media`, ' +
    '`mark` and `clear`); `format=pcm16` sends and takes binary frames of 16 kHz 16-bit little-endian mono PCM, ' +
    'with JSON text messages for the rest. The server closes with 1000 when the call ends. A plain GET is refused ' +
    'and leaves the token valid. Details: docs/media-engine.md.',
  querystring: Type.Object({
    token: Type.String({ minLength: 1, maxLength: 256, description: 'From POST /v1/calls/{callId}/realtime-session' }),
    format: Type.Optional(
      Type.Union([Format, Type.Array(Format, { maxItems: 4 })], {
        description: 'Message framing; if given more than once, the last one wins',
      }),
    ),
  }),
  response: {
    101: { type: 'null', description: 'Switching Protocols: the WebSocket is open' },
    ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED'),
  },
};

/** Sec-WebSocket-Key: 16 random bytes in base64 (RFC 6455 §4.1). */
function isHandshakeKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(key.trim());
}

// An RFC 9110 token; Sec-WebSocket-Protocol is a comma-separated list of them (RFC 6455 §4.1), read by ws strictly.
const PROTOCOL_LIST = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*,[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;

/** Would ws accept this Sec-WebSocket-Protocol? It refuses a malformed list or a repeated name with a plain 400. */
function isProtocolList(header: string): boolean {
  if (!PROTOCOL_LIST.test(header)) {
    return false;
  }
  const names = header.split(',').map((name) => name.trim());
  return new Set(names).size === names.length;
}

type Opened = NonNullable<ReturnType<RealtimeHub['open']>> & { format: RealtimeFormat };

export function realtimeSocketRoute(app: App, deps: { realtime: RealtimeHub }): void {
  const opened = new WeakMap<FastifyRequest, Opened>();
  app.get(
    '/v1/media/realtime',
    {
      websocket: true,
      schema,
      // websocket: lets the app's upgrade guard (app.ts) tell this route from the HTTP ones.
      config: { auth: 'none', websocket: true },
      preHandler: async (request) => {
        // Only a WebSocket redeems the single-use token: a plain GET (a link preview, a health probe) must not, nor a
        // HEAD (which shares this route and asks for an upgrade it cannot get).
        if (request.method !== 'GET' || request.headers.upgrade?.toLowerCase() !== 'websocket') {
          throw new ApiError('VALIDATION_ERROR', {
            details: { reason: 'this is a WebSocket: connect with an Upgrade request (the token stays valid)' },
          });
        }
        // A handshake the WebSocket server would refuse must not spend the token either (RFC 6455 §4.1).
        const key = request.headers['sec-websocket-key'];
        const version = request.headers['sec-websocket-version'];
        if ((version !== '13' && version !== '8') || typeof key !== 'string' || !isHandshakeKey(key)) {
          throw new ApiError('VALIDATION_ERROR', {
            details: {
              reason:
                'a WebSocket handshake needs Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key (the token stays valid)',
            },
          });
        }
        const protocols = request.headers['sec-websocket-protocol'];
        if (protocols !== undefined && !isProtocolList(protocols)) {
          throw new ApiError('VALIDATION_ERROR', {
            details: {
              reason:
                'Sec-WebSocket-Protocol must be a list of distinct names separated by commas (the token stays valid)',
            },
          });
        }
        // Headers alone do not make an upgrade: without `Connection: Upgrade` Node serves a plain request, which the
        // plugin would answer with an empty 404 after the token was spent. request.ws is the plugin's own mark.
        if ((request as { ws?: boolean }).ws !== true) {
          throw new ApiError('VALIDATION_ERROR', {
            details: {
              reason:
                'a WebSocket upgrade needs Connection: Upgrade as well as Upgrade: websocket (the token stays valid)',
            },
          });
        }
        const query = request.query as { token: string; format?: RealtimeFormat | RealtimeFormat[] };
        const found = deps.realtime.open(query.token);
        if (!found) {
          throw new ApiError('UNAUTHORIZED', { details: { reason: 'the realtime token is unknown, used or expired' } });
        }
        const formats = query.format === undefined ? ['twilio' as const] : [query.format].flat();
        opened.set(request, { ...found, format: formats[formats.length - 1] ?? 'twilio' });
      },
    },
    (socket, request) => {
      const session = opened.get(request);
      if (!session) {
        socket.close(1008, 'no session');
        return;
      }
      attachRealtimeSocket(
        socket,
        session.grant,
        session.format,
        session.target,
        deps.realtime.tally,
        deps.realtime.heartbeatMs,
      );
    },
  );
}
