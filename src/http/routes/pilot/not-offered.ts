// Pilot Status routes callgate does not offer (docs/spec/pilot-compat.md §5): a Pilot client calling one gets a
// 404 that says so, not the router's bare "Route not found", so its operator knows it is not a typo.
import { ApiError } from '../../../errors.ts';
import { errorResponses } from '../../schemas/common.ts';
import type { App } from '../../types.ts';

const NOT_OFFERED: { path: string; what: string }[] = [
  {
    path: '/v1/numbers/meta',
    what: 'Meta embedded signup (register the number with its Graph credentials in POST /v1/numbers)',
  },
  { path: '/v1/numbers/check', what: 'checking whether a phone number is on WhatsApp' },
  {
    path: '/v1/meta-embedded/*',
    what: 'Meta embedded signup (register the number with its Graph credentials in POST /v1/numbers)',
  },
  { path: '/v1/remote-pairing', what: 'remote pairing links' },
  { path: '/v1/remote-pairing/*', what: 'remote pairing links' },
  // Pilot's link-creation route sits under /v1/numbers too.
  { path: '/v1/numbers/remote-pairing', what: 'remote pairing links' },
  { path: '/v1/numbers/remote-pairing/*', what: 'remote pairing links' },
];

export function notOfferedRoutes(app: App): void {
  for (const { path, what } of NOT_OFFERED) {
    app.route({
      method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      url: path,
      config: { auth: 'none' },
      schema: {
        // Not part of callgate's API: kept out of /openapi.json (README lists them); they only explain the 404.
        hide: true,
        tags: ['Pilot compatibility'],
        summary: 'Not offered by callgate',
        description: `Pilot Status offers ${what}; callgate does not. Always 404 NOT_IMPLEMENTED_IN_CALLGATE.`,
        response: errorResponses('NOT_IMPLEMENTED_IN_CALLGATE'),
      },
      handler: async () => {
        throw new ApiError('NOT_IMPLEMENTED_IN_CALLGATE', {
          message: `callgate does not offer ${what}; this Pilot Status route is not implemented here.`,
        });
      },
    });
  }
}
