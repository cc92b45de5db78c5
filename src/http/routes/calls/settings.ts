import { ApiError } from '../../../errors.ts';
import { AUTH_ERRORS, errorResponses, NUMBER_SECURITY } from '../../schemas/common.ts';
import { Type } from '../../schemas/type.ts';
import type { App, RouteDeps } from '../../types.ts';
import { numberOf } from '../principal.ts';

const Hhmm = Type.String({ pattern: '^([01][0-9]|2[0-3])[0-5][0-9]$' });
const Calling = Type.Object(
  {
    status: Type.Optional(Type.Enum(['ENABLED', 'DISABLED'])),
    call_icon_visibility: Type.Optional(Type.Enum(['DEFAULT', 'DISABLE_ALL'])),
    callback_permission_status: Type.Optional(Type.Enum(['ENABLED', 'DISABLED'])),
    call_icons: Type.Optional(
      Type.Object(
        { restrict_to_user_countries: Type.Array(Type.String({ pattern: '^[A-Z]{2}$' }), { maxItems: 300 }) },
        { additionalProperties: false },
      ),
    ),
    call_hours: Type.Optional(
      Type.Object(
        {
          status: Type.Enum(['ENABLED', 'DISABLED']),
          timezone_id: Type.String({ minLength: 1, maxLength: 64 }),
          weekly_operating_hours: Type.Array(
            Type.Object(
              {
                day_of_week: Type.Enum(['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY']),
                open_time: Hhmm,
                close_time: Hhmm,
              },
              { additionalProperties: false },
            ),
            { minItems: 1, maxItems: 14 },
          ),
          holiday_schedule: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  date: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }),
                  start_time: Hhmm,
                  end_time: Hhmm,
                },
                { additionalProperties: false },
              ),
              { maxItems: 20 },
            ),
          ),
        },
        { additionalProperties: false, description: 'Replaced whole; an omitted holiday_schedule is deleted.' },
      ),
    ),
    audio: Type.Optional(
      Type.Object({ additional_codecs: Type.Array(Type.Enum(['PCMA', 'PCMU'])) }, { additionalProperties: false }),
    ),
    voicemail: Type.Optional(Type.Unknown({ description: "Passed to Meta as given; Meta's refusal is a 400" })),
    sip: Type.Optional(Type.Unknown({ description: 'Refused: enabling SIP turns the calling API off.' })),
  },
  { additionalProperties: false },
);
/** Pilot sends the settings flat (`{"status":"ENABLED"}`); callgate's own clients wrap them in `calling`. */
const SettingsBody = Type.Object(
  { ...Calling.properties, calling: Type.Optional(Calling) },
  {
    additionalProperties: false,
    description: 'The calling settings flat (Pilot) or wrapped in `calling`, not both.',
  },
);

const errors = errorResponses(
  'VALIDATION_ERROR',
  'FEATURE_NOT_SUPPORTED',
  'TENANT_SCOPE_NOT_ALLOWED',
  'PROVIDER_ERROR',
  'PROVIDER_UNAVAILABLE',
  ...AUTH_ERRORS,
);
const Settings = Type.Object(
  { calling: Type.Optional(Type.Object({}, { additionalProperties: true })) },
  { additionalProperties: true },
);
const Updated = Type.Object(
  {
    success: Type.Literal(true),
    calling: Type.Object({}, { additionalProperties: true, description: 'The settings after the change' }),
  },
  { additionalProperties: true },
);

export function callSettingsRoutes(app: App, deps: RouteDeps): void {
  app.get(
    '/v1/calls/settings',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: 'Calling settings (META, SANDBOX)',
        operationId: 'getCallingSettings',
        description:
          "The number's calling settings as Meta holds them (`status`, `call_icon_visibility`, `call_hours`, " +
          '`callback_permission_status`, `sip`), in its snake_case shape; SANDBOX numbers keep their own, which PUT changes.',
        security: NUMBER_SECURITY,
        response: { 200: Settings, ...errors },
      },
    },
    async (request) => deps.metaCalling.getSettings(numberOf(request)),
  );

  app.put(
    '/v1/calls/settings',
    {
      config: { auth: 'number' },
      schema: {
        tags: ['Calls'],
        summary: 'Update calling settings (META, SANDBOX)',
        operationId: 'updateCallingSettings',
        description:
          "Pilot's flat body or `{calling:{…}}`; answers `{success:true, calling}` with the settings after the change. " +
          "Partial at the calling level: each object given replaces Meta's whole (call_hours too); `sip` is refused.",
        security: NUMBER_SECURITY,
        body: SettingsBody,
        response: { 200: Updated, ...errors },
      },
    },
    async (request) => {
      const { calling: wrapped, ...flat } = request.body as Record<string, unknown> & { calling?: object };
      if (wrapped !== undefined && Object.keys(flat).length > 0) {
        throw new ApiError('VALIDATION_ERROR', {
          details: { reason: 'send the settings flat or inside `calling`, not both' },
        });
      }
      const after = await deps.metaCalling.updateSettings(
        numberOf(request),
        (wrapped ?? flat) as Record<string, unknown>,
      );
      return { success: true as const, calling: (after.calling as Record<string, unknown> | undefined) ?? {} };
    },
  );
}
