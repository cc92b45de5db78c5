// A POST body's optional field sent as null is read as left out. Clients built with Jackson, Newtonsoft or pydantic
// write every unset field as null by default ({"to":"…","sdp":null,"bizOpaqueCallbackData":null}), and Pilot's
// reference says nothing against it: refusing them would break such clients on fields they never meant to set.
// A field whose schema takes null (a sandbox's hangupAfterSeconds: null turns the hang-up off) keeps its null, and
// a required field sent as null is still refused by the schema.

type Schema = {
  type?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  anyOf?: Schema[];
  oneOf?: Schema[];
};

/** Removes what the schema reads as absent; `undefined` when the schema has no such field to spare the call. */
export function absentNulls(schema: unknown): ((data: unknown) => void) | undefined {
  const plan = planFor(schema as Schema);
  return plan ? (data) => strip(data, plan) : undefined;
}

interface Plan {
  /** Optional fields that do not take null: a null there is removed. */
  drop: Set<string>;
  /** Fields a null is meant for (required, or taking null): never removed, whatever another branch says. */
  keep: Set<string>;
  /** Object fields whose own fields are looked at in turn. */
  nested: Map<string, Plan>;
}

function planFor(schema: Schema | undefined): Plan | undefined {
  if (!schema || typeof schema !== 'object') {
    return undefined;
  }
  if (!schema.properties) {
    // A body of several shapes (POST /v1/numbers: callgate's or Pilot's) is read as each of them.
    const branches = [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])].map(planFor);
    return merged(branches.filter((b): b is Plan => b !== undefined));
  }
  const required = new Set(schema.required ?? []);
  const drop = new Set<string>();
  const keep = new Set<string>();
  const nested = new Map<string, Plan>();
  for (const [name, property] of Object.entries(schema.properties)) {
    if (!required.has(name) && !takesNull(property)) {
      drop.add(name);
    } else {
      keep.add(name);
    }
    const inner = planFor(property);
    if (inner) {
      nested.set(name, inner);
    }
  }
  return drop.size > 0 || nested.size > 0 ? { drop, keep, nested } : undefined;
}

/** The plans of a union's branches as one: a null is dropped only where no branch means it. */
function merged(plans: Plan[]): Plan | undefined {
  if (plans.length <= 1) {
    return plans[0];
  }
  const keep = new Set(plans.flatMap((p) => [...p.keep]));
  const drop = new Set(plans.flatMap((p) => [...p.drop]).filter((name) => !keep.has(name)));
  const nested = new Map<string, Plan>();
  for (const name of new Set(plans.flatMap((p) => [...p.nested.keys()]))) {
    const inner = merged(plans.flatMap((p) => p.nested.get(name) ?? []));
    if (inner) {
      nested.set(name, inner);
    }
  }
  return drop.size > 0 || nested.size > 0 ? { drop, keep, nested } : undefined;
}

function takesNull(schema: Schema): boolean {
  const { type } = schema;
  if (type === 'null' || (Array.isArray(type) && type.includes('null'))) {
    return true;
  }
  return [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])].some(takesNull);
}

function strip(data: unknown, plan: Plan): void {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return;
  }
  const record = data as Record<string, unknown>;
  for (const name of plan.drop) {
    if (Object.hasOwn(record, name) && record[name] === null) {
      delete record[name];
    }
  }
  for (const [name, inner] of plan.nested) {
    if (Object.hasOwn(record, name)) {
      strip(record[name], inner);
    }
  }
}
