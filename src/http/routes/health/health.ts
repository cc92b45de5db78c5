import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';

export function healthRoutes(app: App, deps: RouteDeps): void {
  app.get('/healthz', { schema: { tags: ['Operations'], summary: 'Alive', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: { tags: ['Operations'], summary: 'Ready: the database answers', response: { 200: Type.Object({ status: Type.Literal('ready') }) } },
  }, async () => {
    await deps.db.query('SELECT 1 AS ok');
    return { status: 'ready' as const };
  });
}
