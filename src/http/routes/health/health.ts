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
        summary: 'Ready: the database answers',
        operationId: 'getReadiness',
        response: { 200: Type.Object({ status: Type.Literal('ready') }) },
      },
    },
    async () => {
      await deps.db.query('SELECT 1 AS ok');
      return { status: 'ready' as const };
    },
  );
}
