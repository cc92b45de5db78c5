// Our TypeBox builders (type.ts) against TypeBox itself: the same keys, in the same order, with the same values and
// the same property descriptors (TypeBox hides ~kind and ~optional), for every builder and option the API uses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type as TypeBox } from 'typebox';
import { Type } from './type.ts';

type Shape = [key: string, enumerable: boolean, value: unknown][];

/** Every own property, hidden ones included, recursively, in definition order. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(shape);
  }
  if (value === null || typeof value !== 'object') {
    return value;
  }
  const out: Shape = [];
  for (const key of Reflect.ownKeys(value)) {
    const d: PropertyDescriptor = Object.getOwnPropertyDescriptor(value, key)!;
    assert.equal(d.writable && d.configurable, true, `${String(key)} is writable and configurable`);
    out.push([String(key), d.enumerable === true, shape(d.value)]);
  }
  return out;
}

function same(ours: unknown, theirs: unknown): void {
  assert.deepStrictEqual(shape(ours), shape(theirs));
  assert.equal(JSON.stringify(ours), JSON.stringify(theirs));
}

test('each builder returns what TypeBox returns', () => {
  same(Type.String(), TypeBox.String());
  same(
    Type.String({ minLength: 1, maxLength: 64, format: 'date-time', description: 'd' }),
    TypeBox.String({ minLength: 1, maxLength: 64, format: 'date-time', description: 'd' }),
  );
  same(Type.Integer(), TypeBox.Integer());
  same(
    Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    TypeBox.Integer({ minimum: 1, maximum: 100, default: 20 }),
  );
  same(Type.Boolean(), TypeBox.Boolean());
  same(Type.Boolean({ description: 'b' }), TypeBox.Boolean({ description: 'b' }));
  same(Type.Null(), TypeBox.Null());
  same(Type.Unknown(), TypeBox.Unknown());
  same(Type.Unknown({ description: 'u' }), TypeBox.Unknown({ description: 'u' }));
  same(Type.Enum(['A', 'B']), TypeBox.Enum(['A', 'B']));
  same(Type.Enum(['A', 'B'], { description: 'e' }), TypeBox.Enum(['A', 'B'], { description: 'e' }));
  same(Type.Literal('x'), TypeBox.Literal('x'));
  same(Type.Literal(true), TypeBox.Literal(true));
  same(Type.Literal(3, { description: 'l' }), TypeBox.Literal(3, { description: 'l' }));
  same(Type.Ref('Call'), TypeBox.Ref('Call'));
  same(Type.Ref('Call', { description: 'r' }), TypeBox.Ref('Call', { description: 'r' }));
  same(Type.Array(Type.String()), TypeBox.Array(TypeBox.String()));
  same(
    Type.Array(Type.Ref('Number'), { maxItems: 3, uniqueItems: true }),
    TypeBox.Array(TypeBox.Ref('Number'), { maxItems: 3, uniqueItems: true }),
  );
  same(Type.Union([Type.String(), Type.Null()]), TypeBox.Union([TypeBox.String(), TypeBox.Null()]));
  same(
    Type.Union([Type.Literal('a'), Type.Literal('b')], { description: 'u' }),
    TypeBox.Union([TypeBox.Literal('a'), TypeBox.Literal('b')], { description: 'u' }),
  );
});

test('Optional and Object: required keys, hidden markers, options after the properties', () => {
  same(Type.Optional(Type.String({ maxLength: 5 })), TypeBox.Optional(TypeBox.String({ maxLength: 5 })));
  same(Type.Optional(Type.Ref('Call')), TypeBox.Optional(TypeBox.Ref('Call')));
  same(Type.Optional(Type.Optional(Type.Integer())), TypeBox.Optional(TypeBox.Optional(TypeBox.Integer())));
  same(Type.Object({}), TypeBox.Object({}));
  same(Type.Object({ a: Type.Optional(Type.String()) }), TypeBox.Object({ a: TypeBox.Optional(TypeBox.String()) }));
  same(
    Type.Object(
      { a: Type.String(), b: Type.Optional(Type.Integer()), c: Type.Union([Type.Enum(['X']), Type.Null()]) },
      { $id: 'Thing', additionalProperties: false, description: 'o' },
    ),
    TypeBox.Object(
      {
        a: TypeBox.String(),
        b: TypeBox.Optional(TypeBox.Integer()),
        c: TypeBox.Union([TypeBox.Enum(['X']), TypeBox.Null()]),
      },
      { $id: 'Thing', additionalProperties: false, description: 'o' },
    ),
  );
  same(
    Type.Optional(Type.Object({ inner: Type.Optional(Type.Array(Type.Boolean())) }, { additionalProperties: false })),
    TypeBox.Optional(
      TypeBox.Object({ inner: TypeBox.Optional(TypeBox.Array(TypeBox.Boolean())) }, { additionalProperties: false }),
    ),
  );
});

test('Enum refuses what only TypeBox would convert (TypeScript enum objects)', () => {
  assert.throws(() => (Type.Enum as (v: unknown) => unknown)({ A: 'A' }), TypeError);
});
