// The seed YAML is the authority for terminate: tests read its schemas and texts from the file itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';

/** The seed definition, kept byte-identical in the repository (checked by seed-spec.test.ts). */
export const seedSpecPath = join(import.meta.dirname, '../../docs/spec/terminate-call.openapi.yaml');

interface SeedResponse {
  schema?: object;
  example?: Record<string, unknown>;
}

const doc = parse(readFileSync(seedSpecPath, 'utf8'));
const responses = doc.paths['/v1/calls/{callId}/terminate'].post.responses as Record<
  string,
  { content: { 'application/json': SeedResponse } }
>;

export function seedResponse(status: number): SeedResponse {
  const r = responses[String(status)];
  if (!r) {
    throw new Error(`the seed YAML defines no ${status} response for terminate`);
  }
  return r.content['application/json'];
}

const ajv = new Ajv({ strict: false });

/**
 * Checks a terminate response body against the seed: the schema where the YAML has one,
 * and for 200 (example only) every example field present with the example's type.
 */
export function assertMatchesSeed(status: number, body: unknown): void {
  const seed = seedResponse(status);
  if (seed.schema) {
    const validate = ajv.compile(seed.schema);
    if (!validate(body)) {
      throw new Error(
        `${status} body does not match the seed schema: ${ajv.errorsText(validate.errors)} — ${JSON.stringify(body)}`,
      );
    }
  }
  if (status === 200 && seed.example) {
    for (const [key, value] of Object.entries(seed.example)) {
      const got = (body as Record<string, unknown>)[key];
      if (typeof got !== typeof value) {
        throw new Error(
          `200 body field ${key} should be a ${typeof value} as in the seed example, got ${JSON.stringify(got)}`,
        );
      }
    }
  }
}

/** The exact error text the seed gives for a status (its example). */
export function seedErrorText(status: number): string {
  const text = seedResponse(status).example?.error;
  if (typeof text !== 'string') {
    throw new Error(`no example error text for ${status}`);
  }
  return text;
}

export function seedErrorCode(status: number): string | undefined {
  return seedResponse(status).example?.code as string | undefined;
}
