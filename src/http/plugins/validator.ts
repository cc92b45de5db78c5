// Route validators and response serializers, compiled on their route's first request rather than at `ready`:
// compiling every route's at start-up was ~300 ms of the cold start and ~20 MB of RSS, for routes a deployment
// may never call. What gets compiled, with which options, is unchanged; only when. compileAll() compiles whatever
// is still pending, so tests catch a schema that does not compile without calling every route.
//
// Two Ajv instances: query strings, params and headers arrive as text and are coerced to their
// declared types; JSON bodies are taken as sent, so {"sdp":42} is refused instead of becoming "42".
import { createRequire } from 'node:module';
import type { Ajv, ValidateFunction } from 'ajv';
import type { FastifyServerOptions } from 'fastify';
import { absentNulls } from './absent-nulls.ts';

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
type SerializerFactory = NonNullable<CompilersFactory['buildSerializer']>;
type ValidatorCompiler = ReturnType<NonNullable<CompilersFactory['buildValidator']>>;

// CommonJS packages loaded synchronously on the first compile, so a start that compiles nothing never loads them.
const require = createRequire(import.meta.url);

let ajvs: { forText: Ajv; forBodies: Ajv } | undefined;

function makeAjv(coerceTypes: false | 'array'): Ajv {
  const { Ajv: AjvClass } = require('ajv') as typeof import('ajv');
  const addFormats = require('ajv-formats') as typeof import('ajv-formats');
  const ajv = new AjvClass({
    coerceTypes,
    useDefaults: true,
    removeAdditional: false,
    // Every problem of a request, not the first: a client fixes them in one round trip. Bodies are bounded by
    // bodyLimit and arrays by maxItems, so the list stays short.
    allErrors: true,
    strict: false,
  });
  addFormats.default(ajv);
  return ajv;
}

function ajvFor(httpPart: string | undefined): Ajv {
  ajvs ??= { forText: makeAjv('array'), forBodies: makeAjv(false) };
  return httpPart === 'body' ? ajvs.forBodies : ajvs.forText;
}

let fastifySerializerFactory: SerializerFactory | undefined;

/** Fastify's own default serializer factory (its dependency, resolved from fastify): responses serialize as before. */
function defaultSerializerFactory(): SerializerFactory {
  if (!fastifySerializerFactory) {
    const fromFastify = createRequire(require.resolve('fastify'));
    fastifySerializerFactory = (
      fromFastify('@fastify/fast-json-stringify-compiler') as { SerializerSelector: () => SerializerFactory }
    ).SerializerSelector();
  }
  return fastifySerializerFactory;
}

export interface SchemaCompilers {
  /** For Fastify's `schemaController.compilersFactory`. */
  compilersFactory: Required<CompilersFactory>;
  /** Compiles every validator and serializer not compiled yet, and says how many; throws what a compilation throws. */
  compileAll(): number;
}

/** One set per app: its pending compilations are the app's own. */
export function schemaCompilers(): SchemaCompilers {
  const pending = new Set<() => unknown>();
  const once = <F>(compile: () => F): (() => F) => {
    let compiled: F | undefined;
    const get = (): F => {
      if (compiled === undefined) {
        compiled = compile();
        pending.delete(get);
      }
      return compiled;
    };
    pending.add(get);
    return get;
  };

  const validatorCompiler: ValidatorCompiler = ({ schema, httpPart, method }) => {
    const get = once((): ValidateFunction => ajvFor(httpPart).compile(schema as object));
    // Creations only: in a PATCH or a partial PUT a null may mean "clear it" (JSON Merge Patch), and is refused.
    const nulls = httpPart === 'body' && method === 'POST' ? absentNulls(schema) : undefined;
    const validate = (data: unknown, dataCxt?: Parameters<ValidateFunction>[1]) => {
      nulls?.(data);
      return get()(data, dataCxt);
    };
    // Fastify reads schemaEnv before calling (to let Ajv replace a root value) and errors after a failed call.
    Object.defineProperties(validate, {
      errors: { get: () => get().errors },
      schemaEnv: { get: () => get().schemaEnv },
    });
    return validate as unknown as ReturnType<ValidatorCompiler>;
  };

  const buildSerializer: SerializerFactory = (externalSchemas, serializerOpts) => (route) => {
    const get = once(() => defaultSerializerFactory()(externalSchemas, serializerOpts)(route));
    return (data) => get()(data);
  };

  return {
    compilersFactory: { buildValidator: () => validatorCompiler, buildSerializer },
    compileAll: () => {
      const all = [...pending];
      for (const get of all) {
        get();
      }
      return all.length;
    },
  };
}
