import type { FailureCategory } from '../types.ts';

// docs/spec/providers-meta.md §2.2: classify on Graph error code first, HTTP status second, never on text.
const BY_CODE: Record<number, FailureCategory> = {
  100: 'INVALID_REQUEST',
  613: 'RATE_LIMITED',
  131009: 'CONFIG',
  131026: 'INVALID_REQUEST',
  131030: 'CONFIG',
  131044: 'CONFIG',
  131055: 'CONFIG',
  138000: 'CONFIG',
  138001: 'INVALID_REQUEST',
  138002: 'RATE_LIMITED',
  138003: 'INVALID_REQUEST',
  138004: 'PROVIDER_DOWN',
  138005: 'RATE_LIMITED',
  138006: 'PERMISSION_REQUIRED',
  138007: 'PROVIDER_DOWN',
  138009: 'PERMISSION_REQUEST_LIMIT',
  138011: 'PERMISSION_REQUIRED',
  138012: 'RATE_LIMITED',
  138013: 'CONFIG',
  138014: 'CONFIG',
  138015: 'CONFIG',
  138017: 'INVALID_REQUEST',
  138018: 'CONFIG',
  190: 'AUTH',
  10: 'AUTH',
  4: 'RATE_LIMITED',
  80007: 'RATE_LIMITED',
  130429: 'RATE_LIMITED',
  368: 'CONFIG',
  1: 'PROVIDER_DOWN',
  2: 'PROVIDER_DOWN',
  131000: 'PROVIDER_DOWN',
  131016: 'PROVIDER_DOWN',
};

/** Actions that end a call read "invalid parameter" and undocumented 138xxx as "Meta no longer has this call". */
export function classifyGraphError(code: number | null, httpStatus: number, endingAction: boolean): FailureCategory {
  if (code !== null) {
    if (endingAction && (code === 100 || (code >= 138000 && code < 139000 && !(code in BY_CODE)))) {
      return 'ALREADY_ENDED';
    }
    const known = BY_CODE[code];
    if (known) {
      return known;
    }
    if (code >= 200 && code <= 299) {
      return 'AUTH';
    }
    if (code >= 138000 && code < 139000) {
      return 'INVALID_REQUEST';
    }
  }
  if (httpStatus >= 500) {
    return 'PROVIDER_DOWN';
  }
  if (httpStatus === 401 || httpStatus === 403) {
    return 'AUTH';
  }
  if (httpStatus === 429) {
    return 'RATE_LIMITED';
  }
  return 'INVALID_REQUEST';
}

/** 138012 carries the next allowed time in its details: epoch seconds or an ISO date. */
export function retryAfterFromDetails(details: string | undefined, nowMs: number): number | undefined {
  if (!details) {
    return undefined;
  }
  const epoch = /\b(\d{10})\b/.exec(details);
  const at = epoch ? Number(epoch[1]) * 1000 : isoToMs(details);
  if (!Number.isFinite(at)) {
    return undefined;
  }
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** The first ISO date or date-time in `text`, in its own zone; a time without one is UTC, not the host's zone. */
function isoToMs(text: string): number {
  const m = /(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?/.exec(text);
  if (!m) {
    return Number.NaN;
  }
  const [, date, time, zone] = m;
  const offset = zone && zone !== 'Z' ? `${zone.slice(0, 3)}:${zone.slice(-2)}` : 'Z';
  return Date.parse(time ? `${date}T${time}${offset}` : `${date}T00:00:00Z`);
}
