// Two Ajv instances: query strings, params and headers arrive as text and are coerced to their
// declared types; JSON bodies are taken as sent, so {"sdp":42} is refused instead of becoming "42".
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

function makeAjv(coerceTypes: false | 'array'): Ajv {
  const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  addFormats.default(ajv);
  return ajv;
}

const forText = makeAjv('array');
const forBodies = makeAjv(false);

export const compileValidator: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const validate: ValidateFunction = (httpPart === 'body' ? forBodies : forText).compile(schema as object);
  return validate as unknown as ReturnType<FastifySchemaCompiler<unknown>>;
};
