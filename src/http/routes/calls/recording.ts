// GET and DELETE /v1/calls/{callId}/recording: the stereo Ogg/Opus recording of a server-media call (caller
// left, business right). GET honours one byte range (players seek with it) and answers 206 with Content-Range.

import { Readable } from 'node:stream';
import { ApiError } from '../../../errors.ts';
import { CallIdParams } from '../../schemas/call.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

/** The file itself, streamed (never serialized): documented for the API reference and the SDK. */
const OggFile = { type: 'string', format: 'binary' } as const;

const errors = errorResponses(
  'VALIDATION_ERROR',
  'TENANT_SCOPE_NOT_ALLOWED',
  'CALL_NOT_FOUND',
  'RECORDING_NOT_FOUND',
  'CALL_STATE_CONFLICT',
  ...AUTH_ERRORS,
);

/** The one range of a `bytes=` header, clamped to the file; null for the whole file; throws when unsatisfiable. */
export function byteRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) {
    return null;
  }
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) {
    return null; // several ranges or a form we do not serve: the whole file, as RFC 9110 allows
  }
  const [, from = '', to = ''] = m;
  if (from !== '' && to !== '' && Number(to) < Number(from)) {
    return null; // an invalid range-spec (RFC 9110 §14.1.1): the header is ignored
  }
  let start: number;
  let end: number;
  if (from === '') {
    start = Math.max(0, size - Number(to)); // the last N bytes
    end = size - 1;
  } else {
    start = Number(from);
    end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  }
  if (start >= size || start > end) {
    throw new ApiError('RANGE_NOT_SATISFIABLE', { headers: { 'content-range': `bytes */${size}` } });
  }
  return { start, end };
}

export function callRecordingRoutes(app: App, deps: RouteDeps): void {
  app.get(
    '/v1/calls/:callId/recording',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: 'Download the recording of a server-media call',
        operationId: 'getRecording',
        description:
          'Stereo Ogg/Opus (`audio/ogg`): the caller on the left channel, the business on the right. One byte ' +
          'range is honoured (206). 409 while the call is still being recorded.',
        security: NUMBER_SECURITY,
        params: CallIdParams,
        response: {
          200: { description: 'The whole recording', content: { 'audio/ogg': { schema: OggFile } } },
          206: {
            description: 'The byte range asked for (Content-Range)',
            content: { 'audio/ogg': { schema: OggFile } },
          },
          ...errors,
          ...errorResponses('RANGE_NOT_SATISFIABLE', 'SERVICE_UNAVAILABLE'),
        },
      },
    },
    async (request, reply) => {
      const { file, size } = await deps.recordings.open(numberOf(request), request.params.callId);
      let range: ReturnType<typeof byteRange>;
      try {
        // If-Range names a version by a validator; callgate sends none (ETag, Last-Modified), so none can match,
        // and the Range is to be ignored (RFC 9110 §13.1.5): the whole file.
        range = request.headers['if-range'] === undefined ? byteRange(request.headers.range, size) : null;
      } catch (err) {
        await file.close();
        throw err;
      }
      reply.header('content-type', 'audio/ogg').header('accept-ranges', 'bytes');
      if (range) {
        reply
          .code(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
          .header('content-length', range.end - range.start + 1);
      } else {
        reply.header('content-length', size);
      }
      if (request.method === 'HEAD') {
        // Fastify's HEAD drains a stream to discard it (a whole recording read for nothing); an empty one keeps
        // the Content-Length set above, which an empty body would reset to 0.
        await file.close();
        return reply.send(Readable.from([]) as unknown as string);
      }
      // The schema documents a binary string; what is sent is the file's stream (typed as the schema's string),
      // which closes the file when done.
      return reply.send(file.createReadStream({ ...range, autoClose: true }) as unknown as string);
    },
  );

  app.delete(
    '/v1/calls/:callId/recording',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: 'Delete the recording of a server-media call',
        operationId: 'deleteRecording',
        description: 'The file is removed; the call keeps `recording.status: "deleted"`. Deleting again is a 200.',
        security: NUMBER_SECURITY,
        params: CallIdParams,
        response: {
          200: Type.Object({ success: Type.Literal(true), id: Type.String(), status: Type.Literal('deleted') }),
          ...errors,
        },
      },
    },
    async (request) => ({
      success: true as const,
      ...(await deps.recordings.delete(numberOf(request), request.params.callId)),
    }),
  );
}
