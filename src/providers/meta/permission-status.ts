// Graph documents call_permissions twice (docs/spec/providers-meta.md §1.5): the guide's `permission.status` is
// no_permission | temporary | permanent, the OpenAPI page's granted | pending | denied | expired. Clients get the
// guide's words whichever form Meta answers with.

type Json = Record<string, unknown>;

const NO_PERMISSION = new Set(['pending', 'denied', 'expired']);

/** The reply with `permission.status` in the guide's words; anything else in it is passed through untouched. */
export function normalizePermissionReply(reply: Json): Json {
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
