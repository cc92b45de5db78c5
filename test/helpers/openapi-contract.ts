// Checks real answers against the OpenAPI document the server publishes (/openapi.json): the status is one the
// operation documents, a JSON body validates against the schema documented for that status, and an error's code is
// one of those listed for it. Fastify's serializer only shapes bodies on statuses a route declares, so an answer on
// an undeclared status, or a code its operation does not list, reaches clients that generated their types from the
// document without any warning; this catches both.
import { createRequire } from 'node:module';
import type { ValidateFunction } from 'ajv';

const require = createRequire(import.meta.url);

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

interface Media {
  schema?: object;
  example?: { code?: string };
}
interface Operation {
  description?: string;
  responses: Record<string, { description?: string; content?: Record<string, Media> }>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
}

export interface Answer {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

export interface Contract {
  /** What is wrong with `answer` to `method url` by the document; empty when it is as documented. */
  problems(method: string, url: string, answer: Answer): string[];
  /** `METHOD /path` of every documented operation, and the statuses each was seen answering. */
  readonly seen: Map<string, Set<number>>;
  readonly operations: string[];
}

const pointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

export function openApiContract(doc: OpenApiDocument): Contract {
  // The document says openapi 3.1: its schemas are JSON Schema 2020-12.
  const { default: Ajv2020 } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  const addFormats = require('ajv-formats') as typeof import('ajv-formats');
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema(doc as object, 'openapi.json');

  // Literal segments before parameters: /v1/calls/settings is its own path, not /v1/calls/{callId}.
  const templates = Object.keys(doc.paths)
    .map((path) => ({
      path,
      params: (path.match(/\{/g) ?? []).length,
      regex: new RegExp(`^${path.replace(/[.+]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }))
    .sort((a, b) => a.params - b.params);
  const operations = templates.flatMap(({ path }) =>
    Object.keys(doc.paths[path] ?? {})
      .filter((m) => (METHODS as readonly string[]).includes(m))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );
  const seen = new Map<string, Set<number>>();
  const validators = new Map<string, ValidateFunction>();

  const problems = (method: string, url: string, answer: Answer): string[] => {
    const pathname = new URL(url, 'http://x').pathname;
    const m = method.toLowerCase();
    const template = templates.find((t) => t.regex.test(pathname) && doc.paths[t.path]?.[m]);
    const name = `${method.toUpperCase()} ${template?.path ?? pathname}`;
    const at = `${name} → ${answer.statusCode}`;
    const op = template ? doc.paths[template.path]?.[m] : undefined;
    if (!template || !op) {
      return [`${name}: no such operation in the document`];
    }
    const statuses = seen.get(name) ?? new Set<number>();
    statuses.add(answer.statusCode);
    seen.set(name, statuses);
    const response = op.responses[String(answer.statusCode)];
    if (!response) {
      return [`${at}: status not documented (${answer.body.slice(0, 200)})`];
    }
    const media = response.content?.['application/json'];
    const type = String(answer.headers['content-type'] ?? '');
    if (!media) {
      return [];
    }
    if (!type.startsWith('application/json')) {
      return [`${at}: documented as JSON, answered ${type || 'no content type'}`];
    }
    let body: unknown;
    try {
      body = JSON.parse(answer.body);
    } catch {
      return [`${at}: body is not JSON`];
    }
    const found: string[] = [];
    if (media.schema) {
      const ref = `openapi.json#/paths/${pointer(template.path)}/${m}/responses/${answer.statusCode}/content/application~1json/schema`;
      const validate = validators.get(ref) ?? ajv.compile({ $ref: ref });
      validators.set(ref, validate);
      if (!validate(body)) {
        found.push(`${at}: ${ajv.errorsText(validate.errors)} in ${answer.body.slice(0, 300)}`);
      }
    }
    const code = (body as { code?: unknown } | null)?.code;
    if (answer.statusCode >= 400 && typeof code === 'string') {
      // The codes of a status are listed in its description; the terminate contract's own texts name theirs in
      // the example, or in the operation's description.
      const listed =
        (response.description ?? '').split(', ').includes(code) ||
        media.example?.code === code ||
        new RegExp(`\\b${code}\\b`).test(op.description ?? '');
      if (!listed) {
        found.push(`${at}: code ${code} is not documented for this status (${response.description})`);
      }
    }
    return found;
  };

  return { problems, seen, operations };
}
