// One error handler and one envelope: {error, code, details?, requestId}. No stack ever leaves.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.ts';
import { type StoreFailureKind, storeFailureKind } from '../../store/unavailable.ts';

export function sendError(request: FastifyRequest, reply: FastifyReply, error: ApiError) {
  if (error.headers) {
    reply.headers(error.headers);
  }
  // Set here too: errors raised before routing (frameworkErrors) skip the app's onSend hook.
  reply.header('x-request-id', request.id);
  return reply
    .code(error.status)
    .type('application/json')
    .send({
      error: error.message,
      code: error.code,
      ...(error.details ? { details: error.details } : {}),
      requestId: request.id,
    });
}

/** Where the problem is: a missing or unexpected property is pointed at by name, not by its parent object. */
function issuePath(instancePath: string, params: Record<string, unknown>): string {
  const property = params.missingProperty ?? params.additionalProperty;
  return typeof property === 'string' ? `${instancePath}/${property}` : instancePath || '/';
}

/**
 * Ajv's words, with the values a `const` or `enum` takes: "must be equal to constant" alone (twice, for `?force=yes`
 * against "true" | "false") does not say what to send instead.
 */
function issueMessage(issue: AjvIssue): string | undefined {
  const { allowedValue, allowedValues } = issue.params as { allowedValue?: unknown; allowedValues?: unknown };
  if (issue.keyword === 'const') {
    return `must be ${JSON.stringify(allowedValue)}`;
  }
  if (issue.keyword === 'enum' && Array.isArray(allowedValues)) {
    return `must be one of ${allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return issue.message;
}

/**
 * Issues listed in one answer. Ajv reports every problem (allErrors), and a body of 80,000 unknown properties has
 * 80,000: the first ones are enough to fix a request, and the answer stays small.
 */
export const MAX_VALIDATION_ISSUES = 20;

type AjvIssue = NonNullable<FastifyError['validation']>[number];

const MAX_ISSUES_TO_SORT = 1000;

/**
 * A value that fits none of a union's shapes gets Ajv's complaints about every shape: a SANDBOX number with a bad
 * `phoneNumber` also read "/number must have required property 'number'" and "/provider must NOT have additional
 * properties" (Pilot's `{name, number}` body is the union's other shape), which sends the reader after the wrong
 * field. When one shape came closest (fewest complaints), only its complaints are kept, without the union's own
 * "must match a schema in anyOf"; on a tie all stay, since any of them may be what was meant. A body with more
 * issues than a person's mistakes make (thousands, sent on purpose) is left as it is, so it costs nothing more.
 */
export function closestShapeIssues(issues: AjvIssue[]): AjvIssue[] {
  if (issues.length > MAX_ISSUES_TO_SORT) {
    return issues;
  }
  const unions = new Map<string, { union: AjvIssue; branches: Map<string, AjvIssue[]> }>();
  const key = (instancePath: string, schemaPath: string) => `${instancePath}\u0000${schemaPath}`;
  for (const issue of issues) {
    if (issue.keyword === 'anyOf' || issue.keyword === 'oneOf') {
      unions.set(key(issue.instancePath, issue.schemaPath), { union: issue, branches: new Map() });
    }
  }
  if (unions.size === 0) {
    return issues;
  }
  for (const issue of issues) {
    const schemaParts = issue.schemaPath.split('/');
    const instanceParts = issue.instancePath.split('/');
    // Every union this issue sits under: a schema path prefix `…/anyOf/<branch>/…` and an instance path prefix.
    for (let s = 1; s < schemaParts.length - 1; s++) {
      const keyword = schemaParts[s];
      if (keyword !== 'anyOf' && keyword !== 'oneOf') {
        continue;
      }
      const unionSchemaPath = schemaParts.slice(0, s + 1).join('/');
      for (let i = instanceParts.length; i >= 1; i--) {
        const found = unions.get(key(instanceParts.slice(0, i).join('/'), unionSchemaPath));
        if (found) {
          const branch = schemaParts[s + 1] as string;
          const list = found.branches.get(branch);
          if (list) {
            list.push(issue);
          } else {
            found.branches.set(branch, [issue]);
          }
          break;
        }
      }
    }
  }
  const dropped = new Set<AjvIssue>();
  const merged = new Map<AjvIssue, AjvIssue>();
  for (const { union, branches } of unions.values()) {
    const lists = [...branches.values()];
    const fewest = Math.min(...lists.map((l) => l.length));
    const closest = lists.filter((l) => l.length === fewest);
    // `play {}`: each shape misses one property. Listed apart, "must have required property 'mediaUrl'" and "...
    // 'clear'" read as if both were needed: one issue names the choice instead.
    const missing = onlyMissingProperties(lists, union.instancePath);
    if (missing !== null) {
      merged.set(union, {
        ...union,
        message: `must have one of the properties ${missing.map((p) => `'${p}'`).join(', ')}`,
      });
      for (const issue of lists.flat()) {
        dropped.add(issue);
      }
      continue;
    }
    if (closest.length !== 1) {
      continue;
    }
    dropped.add(union);
    for (const list of lists) {
      if (list !== closest[0]) {
        for (const issue of list) {
          dropped.add(issue);
        }
      }
    }
  }
  if (dropped.size === 0 && merged.size === 0) {
    return issues;
  }
  return issues.filter((issue) => !dropped.has(issue)).map((issue) => merged.get(issue) ?? issue);
}

/** The properties a union's shapes each miss, when missing one property at the union's own place is all that is wrong. */
function onlyMissingProperties(lists: AjvIssue[][], instancePath: string): string[] | null {
  if (lists.length < 2 || lists.some((l) => l.length !== 1)) {
    return null;
  }
  const names: string[] = [];
  for (const [issue] of lists) {
    const property = issue?.params.missingProperty;
    if (issue?.keyword !== 'required' || issue.instancePath !== instancePath || typeof property !== 'string') {
      return null;
    }
    names.push(property);
  }
  // Shapes that all miss the same property make no choice: their own issues say it (and the union's line stays).
  const distinct = [...new Set(names)];
  return distinct.length > 1 ? distinct : null;
}

function fromFastifyError(error: FastifyError): ApiError | null {
  if (error.validation) {
    const validation = closestShapeIssues(error.validation);
    const truncated = validation.length > MAX_VALIDATION_ISSUES;
    return new ApiError('VALIDATION_ERROR', {
      details: {
        issues: validation.slice(0, MAX_VALIDATION_ISSUES).map((v) => ({
          in: error.validationContext,
          path: issuePath(v.instancePath, v.params),
          message: issueMessage(v),
        })),
        ...(truncated ? { truncated: true } : {}),
      },
    });
  }
  const status = error.statusCode ?? 500;
  if (status === 413) {
    return new ApiError('PAYLOAD_TOO_LARGE');
  }
  if (status === 415) {
    return new ApiError('UNSUPPORTED_MEDIA_TYPE');
  }
  if (status === 405) {
    return new ApiError('METHOD_NOT_ALLOWED');
  }
  if (status === 404) {
    return new ApiError('NOT_FOUND');
  }
  // Malformed JSON, bad headers, invalid URL encoding...: the client's fault, said plainly. Fastify's message may quote
  // the input (a whole over-long path parameter): its middle is cut so the answer stays small and keeps the why.
  if (status >= 400 && status < 500) {
    return new ApiError('VALIDATION_ERROR', { details: { reason: clippedReason(error.message) } });
  }
  return null;
}

const MAX_REASON_CHARS = 300;

/** A reason for the error envelope, its middle cut when long. */
export function clippedReason(text: string): string {
  if (text.length <= MAX_REASON_CHARS) {
    return text;
  }
  const half = MAX_REASON_CHARS / 2;
  return `${text.slice(0, half)}…${text.slice(-half)}`;
}

/** Seconds a client should wait before retrying a request the store could not take. */
export const STORE_RETRY_AFTER_SECONDS = 2;

export function storeUnavailable(): ApiError {
  return new ApiError('STORE_UNAVAILABLE', { headers: { 'retry-after': String(STORE_RETRY_AFTER_SECONDS) } });
}

export interface ErrorHandlingOptions {
  /** Told of every request that failed because the store could not take it (readiness reports it). */
  onStoreUnavailable?: (kind: StoreFailureKind) => void;
}

export function registerErrorHandling(app: FastifyInstance, opts: ErrorHandlingOptions = {}): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ApiError) {
      return sendError(request, reply, error);
    }
    // Disk full, I/O error, read-only, locked too long, connection lost: nothing was stored; retrying is safe.
    const kind = storeFailureKind(error);
    if (kind !== null) {
      request.log.error({ err: error.message }, 'store unavailable');
      opts.onStoreUnavailable?.(kind);
      return sendError(request, reply, storeUnavailable());
    }
    const mapped = fromFastifyError(error);
    if (mapped) {
      return sendError(request, reply, mapped);
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendError(request, reply, new ApiError('INTERNAL_ERROR'));
  });
  app.setNotFoundHandler((request, reply) => sendError(request, reply, new ApiError('NOT_FOUND')));
}
