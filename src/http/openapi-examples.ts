// Examples for the OpenAPI document: every request and response body gets one. A schema's own `examples` win
// (the shared ones in schemas/examples.ts); error responses show their first listed code with its catalogue text;
// anything else is built from the schema (formats, enums, patterns, bounds), so a route added without examples
// is still documented with a body that validates.
import { ERRORS, type ErrorCode } from '../errors.ts';
import { COMPONENT_EXAMPLES } from './schemas/examples.ts';

type Schema = Record<string, unknown>;
type Components = Record<string, Schema>;

// Candidate strings tried against a `pattern`, most specific first.
const PATTERN_CANDIDATES = [
  'call_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
  'num_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
  'whk_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
  'evt_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
  'key_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
  '+5511999990000',
  '5511999990000',
  '110200345567891',
  'example',
];

const FORMATS: Record<string, string> = {
  'date-time': '2026-01-31T12:00:00.000Z',
  date: '2026-01-31',
  uri: 'https://example.com/hooks/callgate',
  url: 'https://example.com/hooks/callgate',
  email: 'ops@example.com',
  uuid: '8b5f0a52-6a4e-4c55-9a33-0f5b0c8f3e1a',
};

function stringExample(schema: Schema): string {
  const format = typeof schema.format === 'string' ? FORMATS[schema.format] : undefined;
  if (format) {
    return format;
  }
  let value = 'example';
  if (typeof schema.pattern === 'string') {
    const pattern = new RegExp(schema.pattern, 'u');
    value = PATTERN_CANDIDATES.find((c) => pattern.test(c)) ?? value;
  }
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : Number.POSITIVE_INFINITY;
  return value.padEnd(min, 'x').slice(0, max);
}

/** An example value for `schema`, resolving `$ref`s into `components`. */
export function exampleOf(schema: unknown, components: Components, depth = 0): unknown {
  if (typeof schema !== 'object' || schema === null || depth > 8) {
    return null;
  }
  const s = schema as Schema;
  if (typeof s.$ref === 'string') {
    return exampleOf(components[s.$ref.replace('#/components/schemas/', '')], components, depth + 1);
  }
  if (Array.isArray(s.examples) && s.examples.length > 0) {
    return s.examples[0];
  }
  for (const key of ['example', 'const', 'default'] as const) {
    if (s[key] !== undefined) {
      return s[key];
    }
  }
  if (Array.isArray(s.enum) && s.enum.length > 0) {
    return s.enum[0];
  }
  const branches = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
  if (Array.isArray(branches)) {
    const branch = branches.find((b) => b.type !== 'null') ?? branches[0];
    return exampleOf(branch, components, depth + 1);
  }
  const type = Array.isArray(s.type) ? (s.type.find((t) => t !== 'null') ?? 'null') : s.type;
  switch (type) {
    case 'object': {
      // Required fields, and optional ones whose schema gives a value to show.
      const properties = (s.properties ?? {}) as Record<string, Schema>;
      const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
      const shown = Object.entries(properties).filter(
        ([k, v]) => required.has(k) || v.examples !== undefined || v.default !== undefined,
      );
      return Object.fromEntries(shown.map(([k, v]) => [k, exampleOf(v, components, depth + 1)]));
    }
    case 'array': {
      const min = typeof s.minItems === 'number' ? s.minItems : 1;
      return Array.from({ length: Math.max(1, min) }, () => exampleOf(s.items, components, depth + 1));
    }
    case 'string':
      return stringExample(s);
    case 'integer':
    case 'number':
      return typeof s.minimum === 'number' ? Math.max(s.minimum, 1) : 1;
    case 'boolean':
      return true;
    default:
      return null;
  }
}

/** The envelope of the first code a response lists (errorResponses writes them as its description). */
function errorExample(description: unknown): unknown {
  const code = typeof description === 'string' ? description.split(',')[0]?.trim() : undefined;
  if (!code || !(code in ERRORS)) {
    return undefined;
  }
  return { error: ERRORS[code as ErrorCode].text, code, requestId: 'req_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P' };
}

interface MediaType {
  schema?: Schema;
  example?: unknown;
  examples?: unknown;
}

function fill(content: Record<string, MediaType> | undefined, components: Components, description?: unknown): void {
  for (const media of Object.values(content ?? {})) {
    if (media.example !== undefined || media.examples !== undefined || !media.schema) {
      continue;
    }
    const isError = media.schema.$ref === '#/components/schemas/ErrorEnvelope';
    media.example = (isError ? errorExample(description) : undefined) ?? exampleOf(media.schema, components);
  }
}

/** Gives every request and response body of the document an example (in place). */
export function addExamples(document: { paths?: Record<string, Record<string, unknown>>; components?: unknown }): void {
  const components = ((document.components as { schemas?: Components } | undefined)?.schemas ?? {}) as Components;
  for (const [name, schema] of Object.entries(components)) {
    const shared = COMPONENT_EXAMPLES[name];
    if (shared && schema.examples === undefined) {
      const built = exampleOf(schema, components);
      const properties = (schema.properties ?? {}) as Record<string, unknown>;
      const kept = Object.fromEntries(Object.entries(shared).filter(([k]) => k in properties));
      schema.examples = [{ ...(built as Record<string, unknown>), ...kept }];
    }
  }
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      const op = operation as {
        requestBody?: { content?: Record<string, MediaType> };
        responses?: Record<string, { description?: string; content?: Record<string, MediaType> }>;
      };
      fill(op.requestBody?.content, components);
      for (const response of Object.values(op.responses ?? {})) {
        fill(response.content, components, response.description);
      }
    }
  }
}
