// The dozen TypeBox builders the API's schemas use, without loading TypeBox at run time: its entry point pulls in
// ~370 modules (type engine, script parser, locales), ~200 ms and ~11 MB of every start, to build what are plain
// JSON Schema objects. Each builder returns exactly what TypeBox 1.x returns (the same enumerable keys in the same
// order, and its hidden `~kind`/`~optional` markers), which type.test.ts checks against TypeBox itself; the static
// types are TypeBox's own, so Static<> and the Fastify type provider see no difference.
import type { Type as TypeBox } from 'typebox';

type Builders = Pick<
  typeof TypeBox,
  | 'Array'
  | 'Boolean'
  | 'Enum'
  | 'Integer'
  | 'Literal'
  | 'Null'
  | 'Object'
  | 'Optional'
  | 'Ref'
  | 'String'
  | 'Union'
  | 'Unknown'
>;
type Json = Record<PropertyKey, unknown>;

/** TypeBox's markers are non-enumerable: JSON, Ajv and the OpenAPI document never see them. */
function hide<T extends object>(target: T, key: string, value: unknown): T {
  return Object.defineProperty(target, key, { configurable: true, writable: true, enumerable: false, value });
}

const create = (kind: string, schema: Json, options?: object): Json => hide({ ...schema, ...options }, '~kind', kind);

const UNSAFE_KEYS = new Set<PropertyKey>(['__proto__', 'constructor', 'prototype']);

export const Type = {
  Array: (items: Json, options?: object) => create('Array', { type: 'array', items }, options),
  Boolean: (options?: object) => create('Boolean', { type: 'boolean' }, options),
  Enum: (values: unknown, options?: object) => {
    // TypeBox also takes a TypeScript enum object; this project has none (erasableSyntaxOnly), so only arrays.
    if (!Array.isArray(values)) {
      throw new TypeError('Type.Enum takes an array of values here');
    }
    return create('Enum', { enum: values }, options);
  },
  Integer: (options?: object) => create('Integer', { type: 'integer' }, options),
  Literal: (value: string | number | boolean | bigint, options?: object) =>
    create('Literal', { type: typeof value, const: value }, options),
  Null: (options?: object) => create('Null', { type: 'null' }, options),
  Object: (properties: Record<string, Json>, options?: object) => {
    const required = Object.getOwnPropertyNames(properties).filter(
      (key) => !('~optional' in (properties[key] as Json)),
    );
    return create('Object', { type: 'object', ...(required.length > 0 ? { required } : {}), properties }, options);
  },
  // A copy of the schema, every property descriptor kept, plus the hidden marker (TypeBox's Memory.Update).
  Optional: (schema: Json) => {
    const result: Json = {};
    for (const key of [...Object.getOwnPropertyNames(schema), ...Object.getOwnPropertySymbols(schema)]) {
      if (UNSAFE_KEYS.has(key) || key === '~optional') {
        continue;
      }
      Object.defineProperty(result, key, Object.getOwnPropertyDescriptor(schema, key) as PropertyDescriptor);
    }
    return hide(result, '~optional', true);
  },
  Ref: (ref: string, options?: object) => create('Ref', { $ref: ref }, options),
  String: (options?: object) => create('String', { type: 'string' }, options),
  Union: (anyOf: Json[], options?: object) => create('Union', { anyOf }, options),
  Unknown: (options?: object) => create('Unknown', {}, options),
} as unknown as Builders;
