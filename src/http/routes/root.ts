// GET /: a person who opens the server's address in a browser lands on the dashboard, not on a 404.
import type { App } from '../types.ts';

export function rootRoute(app: App): void {
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/dashboard', 302));
}
