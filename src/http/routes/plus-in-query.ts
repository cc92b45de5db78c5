// A `+` written unencoded in a query string (as Pilot's own examples do) arrives as a space: form decoding reads
// `+` as one. Where a space can only have been that `+` — right before a phone number's digits, or before a
// timestamp's UTC offset — it is put back before validation; anything else is validated as sent.

const PHONE_PLUS = /^ (?=[0-9])/;
const OFFSET_PLUS = /^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?) ([0-9]{2}:[0-9]{2})$/;

export interface PlusFields {
  phones?: readonly string[];
  timestamps?: readonly string[];
}

/** A preValidation hook restoring the `+` of the named query fields. */
export function restorePlusInQuery(fields: PlusFields) {
  return async (request: { query: unknown }): Promise<void> => {
    const query = request.query as Record<string, unknown>;
    for (const name of fields.phones ?? []) {
      const value = query[name];
      if (typeof value === 'string') {
        query[name] = value.replace(PHONE_PLUS, '+');
      }
    }
    for (const name of fields.timestamps ?? []) {
      const value = query[name];
      if (typeof value === 'string') {
        query[name] = value.replace(OFFSET_PLUS, '$1+$2');
      }
    }
  };
}
