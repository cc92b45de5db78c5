// How a union's complaints are told (the routes' answers are checked in openapi.lint.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closestShapeIssues } from './errors.ts';

const required = (branch: number, property: string) => ({
  keyword: 'required',
  instancePath: '',
  schemaPath: `#/anyOf/${branch}/required`,
  params: { missingProperty: property },
  message: `must have required property '${property}'`,
});
const union = {
  keyword: 'anyOf',
  instancePath: '',
  schemaPath: '#/anyOf',
  params: {},
  message: 'must match a schema in anyOf',
};

test('shapes that each miss a different property are one issue naming the choice', () => {
  const issues = closestShapeIssues([required(0, 'mediaUrl'), required(1, 'clear'), union]);
  assert.deepEqual(
    issues.map((i) => i.message),
    ["must have one of the properties 'mediaUrl', 'clear'"],
  );
});

test("shapes that all miss the same property make no choice to name: never \"one of 'a', 'a'\"", () => {
  const issues = closestShapeIssues([required(0, 'url'), required(1, 'url'), union]);
  assert.ok(
    issues.every((i) => !/one of the properties/.test(i.message ?? '')),
    JSON.stringify(issues.map((i) => i.message)),
  );
});
