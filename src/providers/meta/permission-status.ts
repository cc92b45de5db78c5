// Graph documents call_permissions twice (docs/spec/providers-meta.md §1.5): the guide's `permission.status` is
// no_permission | temporary | permanent, the OpenAPI page's granted | pending | denied | expired (and its limits'
// time_period "24h" where the guide has "PT24H"). Clients get the guide's words whichever form Meta answers with.

type Json = Record<string, unknown>;

const NO_PERMISSION = new Set(['pending', 'denied', 'expired']);

/** The reply with `permission.status` and the limits' `time_period` in the guide's words; the rest untouched. */
export function normalizePermissionReply(raw: Json): Json {
  const reply = Array.isArray(raw.actions) ? { ...raw, actions: raw.actions.map(normalizeAction) } : raw;
  const permission = reply.permission;
  if (typeof permission !== 'object' || permission === null || Array.isArray(permission)) {
    return reply;
  }
  const p = permission as Json;
  const status = typeof p.status === 'string' ? p.status.toLowerCase() : null;
  if (status === 'granted') {
    const temporary = typeof p.expiration_time === 'number' || typeof p.expiration_time === 'string';
    return { ...reply, permission: { ...p, status: temporary ? 'temporary' : 'permanent' } };
  }
  if (status !== null && NO_PERMISSION.has(status)) {
    const { expiration_time: _gone, ...rest } = p;
    return { ...reply, permission: { ...rest, status: 'no_permission' } };
  }
  return reply;
}

const isJson = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The OpenAPI page's "24h" / "7d" as the guide's ISO 8601 durations ("PT24H", "P7D"). */
function normalizeAction(action: unknown): unknown {
  if (!isJson(action) || !Array.isArray(action.limits)) {
    return action;
  }
  const limits = action.limits.map((limit: unknown) => {
    if (!isJson(limit) || typeof limit.time_period !== 'string') {
      return limit;
    }
    const m = /^(\d+)\s*([hd])$/i.exec(limit.time_period.trim());
    if (!m) {
      return limit;
    }
    const period = m[2]?.toLowerCase() === 'h' ? `PT${m[1]}H` : `P${m[1]}D`;
    return { ...limit, time_period: period };
  });
  return { ...action, limits };
}
