// GET /dashboard: the calls dashboard, a few static files read once at start-up. No auth here — the page holds
// no data; it asks the API with the key the user types (kept in sessionStorage). Strict CSP: no inline code at all.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { App } from '../../types.ts';

const PUBLIC_DIR = join(import.meta.dirname, '../../../dashboard/public');

export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
  // media-src blob: a recording is fetched with the key and played from an object URL.
  "img-src 'self' data:; media-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function load(file: string, type: string): Asset {
  const body = readFileSync(join(PUBLIC_DIR, file));
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

export function dashboardRoutes(app: App): void {
  const page = load('index.html', 'text/html; charset=utf-8');
  const assets: Record<string, Asset> = {
    '/dashboard/app.js': load('app.js', 'text/javascript; charset=utf-8'),
    '/dashboard/webhooks.js': load('webhooks.js', 'text/javascript; charset=utf-8'),
    '/dashboard/web-number.js': load('web-number.js', 'text/javascript; charset=utf-8'),
    '/dashboard/recording.js': load('recording.js', 'text/javascript; charset=utf-8'),
    '/dashboard/app.css': load('app.css', 'text/css; charset=utf-8'),
  };
  const routes: Record<string, Asset> = { '/dashboard': page, '/dashboard/': page, ...assets };

  for (const [url, asset] of Object.entries(routes)) {
    app.get(url, { schema: { hide: true } }, async (request, reply) => {
      reply.headers(SECURITY_HEADERS);
      // Revalidate every time (file names carry no hash), but a matching ETag costs no body.
      reply.header('cache-control', 'no-cache').header('etag', asset.etag);
      const seen = request.headers['if-none-match']?.split(',').map((tag) => tag.trim().replace(/^W\//, ''));
      if (seen?.includes(asset.etag)) {
        return reply.code(304).send();
      }
      return reply.type(asset.type).send(asset.body);
    });
  }
}
