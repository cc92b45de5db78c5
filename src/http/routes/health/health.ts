import { storeUnavailable } from '../../plugins/errors.ts';
import { errorResponses } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';

// Probes serialize their one-field bodies with JSON.stringify: a process just started answers its health checks
// without first loading and running the JSON serializer compiler the API routes use.
const serializerCompiler = () => (data: unknown) => JSON.stringify(data);

export function healthRoutes(app: App, deps: RouteDeps): void {
  app.get(
    '/healthz',
    {
      serializerCompiler,
      schema: {
        tags: ['Operations'],
        summary: 'Alive',
        operationId: 'getLiveness',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      serializerCompiler,
      schema: {
        tags: ['Operations'],
        summary: 'Ready: the store takes writes',
        operationId: 'getReadiness',
        description:
          'A write probe (at most once a second) and no request failed for lack of store capacity (disk full, ' +
          'I/O) in the last seconds; otherwise 503 STORE_UNAVAILABLE with Retry-After.',
        response: { 200: Type.Object({ status: Type.Literal('ready') }), ...errorResponses('STORE_UNAVAILABLE') },
      },
    },
    async () => {
      if (!(await deps.readiness.isReady())) {
        throw storeUnavailable();
      }
      return { status: 'ready' as const };
    },
  );
}
