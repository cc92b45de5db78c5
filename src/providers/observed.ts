// Every provider request timed, counted and, when it fails, logged where it happens: provider, action, call,
// the provider's HTTP status and error code, and how long it took. Wraps the adapters (any object whose methods
// answer a ProviderResult), so no call site has to remember to.
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import type { NumberRecord } from '../model/number.ts';
import type { ProviderRegistry } from './registry.ts';
import type { ProviderFailure } from './types.ts';

export interface ProviderObservation {
  provider: string;
  action: string;
  durationMs: number;
  callId: string | null;
  numberId: string | null;
  /** null: it answered ok; otherwise the failure, or the exception it threw. */
  failure: ProviderFailure | null;
  exception?: unknown;
}

type Observer = (o: ProviderObservation) => void;

const isFailure = (value: unknown): value is ProviderFailure =>
  typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;

// The adapters' verbs take the number first and the call second, when there is one.
function idsOf(args: unknown[]): { numberId: string | null; callId: string | null } {
  const idOf = (v: unknown) =>
    typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string'
      ? (v as { id: string }).id
      : null;
  const callId = idOf(args[1]);
  return { numberId: idOf(args[0]), callId: callId?.startsWith('call_') ? callId : null };
}

/** The adapter with each method observed (its own methods and its class's); the adapter last, as it is built inline. */
export function observeProvider<T extends object>(provider: string, observe: Observer, target: T): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(t, key) {
      const value = Reflect.get(t, key);
      if (typeof value !== 'function' || typeof key !== 'string' || key === 'constructor') {
        return value;
      }
      let fn = wrapped.get(key);
      if (!fn) {
        // Only what answers a promise is a request to time; a synchronous helper is passed through untouched.
        fn = (...args: unknown[]) => {
          const started = performance.now();
          const base = { provider, action: key, ...idsOf(args) };
          const result: unknown = (value as (...a: unknown[]) => unknown).apply(t, args);
          if (!(result instanceof Promise)) {
            return result;
          }
          return result.then(
            (answer: unknown) => {
              observe({ ...base, durationMs: performance.now() - started, failure: isFailure(answer) ? answer : null });
              return answer;
            },
            (exception: unknown) => {
              observe({ ...base, durationMs: performance.now() - started, failure: null, exception });
              throw exception;
            },
          );
        };
        wrapped.set(key, fn);
      }
      return fn;
    },
  });
}

/** The registry, each provider's adapter observed once. */
export function observedRegistry(registry: ProviderRegistry, observe: Observer): ProviderRegistry {
  const seen = new WeakMap<object, ReturnType<ProviderRegistry>>();
  return (number: NumberRecord) => {
    const adapter = registry(number);
    let observed = seen.get(adapter);
    if (!observed) {
      observed = observeProvider(number.provider, observe, adapter);
      seen.set(adapter, observed);
    }
    return observed;
  };
}

/** Counts into the metrics and logs failures: warn, or error when our own configuration or credentials are wrong. */
export function providerObserver(logger: Logger, metrics: Metrics | undefined): Observer {
  return (o) => {
    const outcome = o.exception !== undefined ? 'exception' : o.failure ? o.failure.category.toLowerCase() : 'ok';
    metrics?.providerRequests.inc({ provider: o.provider, action: o.action, outcome });
    metrics?.providerDuration.observe({ provider: o.provider, action: o.action }, o.durationMs / 1000);
    if (outcome === 'ok' || outcome === 'already_ended') {
      return;
    }
    const f = o.failure;
    // A number being registered is checked with the registering tenant's credentials: their refusal is not ours.
    const ours = o.action !== 'verifyNumber';
    const level = f && ours && (f.category === 'AUTH' || f.category === 'CONFIG') ? 'error' : 'warn';
    logger[level](
      {
        provider: o.provider,
        action: o.action,
        callId: o.callId,
        numberId: o.numberId,
        category: f?.category ?? 'EXCEPTION',
        httpStatus: f?.httpStatus ?? null,
        providerCode: f?.providerCode ?? null,
        providerMessage: f?.providerMessage ?? (o.exception as Error | undefined)?.message ?? null,
        traceId: f?.traceId,
        durationMs: Math.round(o.durationMs),
      },
      `provider ${o.provider} ${o.action} failed: ${f?.category ?? 'exception'}${f?.httpStatus ? ` (HTTP ${f.httpStatus})` : ''}`,
    );
  };
}
