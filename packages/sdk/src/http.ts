// One request, the way every method of the client makes it: auth header, JSON in and out, an Idempotency-Key on
// POSTs (the same one on every retry), a per-attempt timeout, and retries with backoff and jitter that honour
// Retry-After. Browser-safe: fetch, AbortController and WebCrypto only.
import { CallgateError, codeForStatus, parseErrorEnvelope } from './errors.ts';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface RetryPolicy {
  /** Retries after the first attempt (default 2). */
  maxRetries: number;
  /** First backoff step; doubles each retry, with jitter (default 500 ms). */
  baseDelayMs: number;
  /** Cap of one backoff step (default 8 s). */
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: the error is thrown at once (default 60 s). */
  maxRetryAfterMs: number;
}

export interface TransportOptions {
  baseUrl: string;
  authHeader: { name: 'x-api-key' | 'x-api-key-id'; value: string };
  fetch: FetchLike;
  timeoutMs: number;
  retry: RetryPolicy;
  headers: Record<string, string>;
}

/** Per-call options every method accepts as its last argument. */
export interface RequestOptions {
  signal?: AbortSignal;
  /** POST only: the Idempotency-Key to send (default: a random one per call, reused by its retries). */
  idempotencyKey?: string;
  timeoutMs?: number;
  maxRetries?: number;
}

// `satisfies` fails the build when RequestOptions gains a key this list lacks.
const REQUEST_OPTION_KEYS = Object.keys({
  signal: true,
  idempotencyKey: true,
  timeoutMs: true,
  maxRetries: true,
} satisfies Record<keyof RequestOptions, true>);

/** Whether a value names any RequestOptions key (a JavaScript caller's options given where others now go). */
export function namesRequestOptions(value: unknown): value is RequestOptions {
  return typeof value === 'object' && value !== null && REQUEST_OPTION_KEYS.some((k) => k in value);
}

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  body?: unknown;
  /** The answer is a file (its bytes), not JSON: sent with this Accept. */
  binary?: string;
  /**
   * A DELETE of an object: a 404 to a retry whose earlier attempt got no answer is success, that attempt having
   * deleted it (the answer was lost on the way back, or came after our timeout).
   */
  goneIsDone?: boolean;
}

/**
 * Whether an error answer is worth another try. 429 and 503 are "try later"; a 502 is a gateway or the provider
 * being down, except PROVIDER_ERROR, which is the provider's final refusal; META_CALL_PERMISSION_REQUEST_LIMIT
 * is a daily limit that a retry in seconds cannot lift.
 */
export function isRetryableStatus(status: number, code: string): boolean {
  if (status === 503) {
    return true;
  }
  if (status === 429) {
    return code !== 'META_CALL_PERMISSION_REQUEST_LIMIT';
  }
  if (status === 502) {
    return code !== 'PROVIDER_ERROR';
  }
  return false;
}

/** Retry-After as seconds (delta-seconds or an HTTP date), or null. */
export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | null {
  if (value === null) {
    return null;
  }
  const trimmed = value.trim();
  if (/^\d{1,10}$/.test(trimmed)) {
    return Number(trimmed);
  }
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - nowMs) / 1000));
}

/**
 * The wait before retry number `retry` (0-based): the server's Retry-After plus up to 10 % (at most 1 s) of jitter,
 * or exponential backoff with "equal jitter" (between half and all of base × 2^retry, capped).
 */
export function retryDelayMs(
  retry: number,
  retryAfterSeconds: number | null,
  policy: RetryPolicy,
  random = Math.random,
): number {
  if (retryAfterSeconds !== null) {
    const ms = retryAfterSeconds * 1000;
    return ms + random() * Math.min(ms * 0.1, 1000);
  }
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return step / 2 + random() * (step / 2);
}

export function newIdempotencyKey(): string {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === 'function') {
    return `sdk_${c.randomUUID()}`;
  }
  const bytes = c.getRandomValues(new Uint8Array(16));
  return `sdk_${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Sleeps, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      return reject(abortedError(signal));
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal as AbortSignal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortedError(signal: AbortSignal): CallgateError {
  return new CallgateError({ message: 'The request was aborted', code: 'ABORTED', status: 0, cause: signal.reason });
}

/** An AbortController that follows `parent` and can be aborted on its own (timeouts, stream teardown). */
export function linkedController(parent?: AbortSignal): { controller: AbortController; unlink(): void } {
  const controller = new AbortController();
  if (!parent) {
    return { controller, unlink() {} };
  }
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) {
    onAbort();
  } else {
    parent.addEventListener('abort', onAbort, { once: true });
  }
  return { controller, unlink: () => parent.removeEventListener('abort', onAbort) };
}

/**
 * A redirect is never followed: fetch would send it on with the x-api-key header (it drops only Authorization across
 * origins), so a proxy or load balancer redirecting elsewhere would be handed the key. The error names the address
 * to use as baseUrl instead (a browser's opaque redirect hides it).
 */
function redirectError(res: Response): CallgateError {
  const location = res.headers.get('location');
  return new CallgateError({
    message:
      `The server answered with a redirect${location ? ` to ${location}` : ''}, which is not followed so that the ` +
      'API key goes nowhere else: give the address it names as baseUrl',
    code: 'REDIRECTED',
    status: res.status,
    requestId: res.headers.get('x-request-id'),
  });
}

const isRedirect = (res: Response) => res.type === 'opaqueredirect' || (res.status >= 300 && res.status < 400);

/** The CallgateError for a non-2xx response (reads its body). */
export async function errorFromResponse(res: Response): Promise<CallgateError> {
  if (isRedirect(res)) {
    await res.body?.cancel().catch(() => undefined);
    return redirectError(res);
  }
  const text = await res.text().catch(() => '');
  const envelope = parseErrorEnvelope(text);
  return new CallgateError({
    message: envelope?.error ?? `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`,
    code: envelope?.code ?? codeForStatus(res.status),
    status: res.status,
    requestId: envelope?.requestId ?? res.headers.get('x-request-id'),
    details: envelope?.details ?? null,
    retryAfterSeconds: parseRetryAfter(res.headers.get('retry-after')),
  });
}

/** A fetch that failed without an answer, named after the server and the underlying cause (ECONNREFUSED, ...). */
export function networkError(baseUrl: string, caught: unknown): CallgateError {
  const error = caught as (Error & { cause?: { message?: string; code?: string } }) | undefined;
  const reason = error?.cause?.message ?? error?.cause?.code ?? error?.message ?? String(caught);
  return new CallgateError({
    message: `Could not reach ${baseUrl}: ${reason}`,
    code: 'NETWORK_ERROR',
    status: 0,
    cause: caught,
  });
}

/** Codes of a failure before any byte of the request left (Node's fetch puts them on the cause's chain). */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/** Whether the attempt's network failure is one where the request never reached any server. */
function neverSent(error: CallgateError): boolean {
  let cause: unknown = error.cause;
  for (let depth = 0; depth < 5 && typeof cause === 'object' && cause !== null; depth++) {
    const { code } = cause as { code?: unknown };
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) {
      return true;
    }
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

export class Transport {
  readonly options: TransportOptions;
  constructor(options: TransportOptions) {
    this.options = options;
  }

  url(path: string, query?: RequestSpec['query']): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) {
        params.set(name, String(value));
      }
    }
    const qs = params.toString();
    return `${this.options.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...this.options.headers, [this.options.authHeader.name]: this.options.authHeader.value, ...extra };
  }

  /** Sends the request, retrying as the policy allows; resolves with the parsed JSON body (undefined for 204). */
  async request<T>(spec: RequestSpec, opts: RequestOptions = {}): Promise<T> {
    const maxRetries = opts.maxRetries ?? this.options.retry.maxRetries;
    const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs;
    const headers = this.headers({ accept: spec.binary ?? 'application/json' });
    if (spec.body !== undefined) {
      headers['content-type'] = 'application/json';
    }
    if (spec.method === 'POST') {
      headers['idempotency-key'] = opts.idempotencyKey ?? newIdempotencyKey();
    }
    const body = spec.body === undefined ? null : JSON.stringify(spec.body);
    const url = this.url(spec.path, spec.query);

    let unanswered = false; // an earlier attempt may have reached the server and done its work
    for (let attempt = 0; ; attempt++) {
      let error: CallgateError;
      const { controller, unlink } = linkedController(opts.signal);
      const timer = setTimeout(
        () =>
          controller.abort(
            new CallgateError({ message: `No answer within ${timeoutMs} ms`, code: 'TIMEOUT', status: 0 }),
          ),
        timeoutMs,
      );
      try {
        const res = await this.options.fetch(url, {
          method: spec.method,
          headers,
          body,
          redirect: 'manual',
          signal: controller.signal,
        });
        if (res.ok) {
          return spec.binary ? (new Uint8Array(await res.arrayBuffer()) as T) : await readJson<T>(res);
        }
        if (res.status === 404 && unanswered && spec.goneIsDone) {
          await res.body?.cancel();
          return undefined as T;
        }
        error = await errorFromResponse(res);
        // Our own earlier attempt may still hold the Idempotency-Key (it timed out on our side, not on the server's).
        const ownKeyBusy = attempt > 0 && error.code === 'IDEMPOTENCY_IN_PROGRESS';
        if (!isRetryableStatus(error.status, error.code) && !ownKeyBusy) {
          throw error;
        }
      } catch (caught) {
        if (opts.signal?.aborted) {
          throw abortedError(opts.signal);
        }
        if (caught instanceof CallgateError && (caught.status !== 0 || caught.code === 'REDIRECTED')) {
          throw caught; // a final answer
        }
        const reason = controller.signal.reason;
        error =
          reason instanceof CallgateError && reason.code === 'TIMEOUT'
            ? reason
            : caught instanceof CallgateError
              ? caught
              : networkError(this.options.baseUrl, caught);
      } finally {
        clearTimeout(timer);
        unlink();
      }
      // A connection refused, or a name that did not resolve, sent nothing: the server cannot have acted on it.
      unanswered ||= error.status === 0 && !neverSent(error);
      if (attempt >= maxRetries) {
        throw error;
      }
      const retryAfter = error.retryAfterSeconds;
      if (retryAfter !== null && retryAfter * 1000 > this.options.retry.maxRetryAfterMs) {
        throw error;
      }
      await sleep(retryDelayMs(attempt, retryAfter, this.options.retry), opts.signal);
    }
  }
}

async function readJson<T>(res: Response): Promise<T> {
  if (res.status === 204) {
    return undefined as T;
  }
  const text = await res.text();
  if (text === '') {
    return undefined as T;
  }
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new CallgateError({
      message: 'The server answered with a body that is not JSON',
      code: 'INVALID_RESPONSE',
      status: res.status,
      requestId: res.headers.get('x-request-id'),
      cause,
    });
  }
}
