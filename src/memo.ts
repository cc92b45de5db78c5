/**
 * Remembers fn's result per key, keeping the `max` most recently used. For values derived from secrets that are
 * costly to derive on every request (decrypted credentials, HMAC KeyObjects): a changed secret is a new key.
 */
export function memoized<V>(fn: (key: string) => V, max = 1024): (key: string) => V {
  const cache = new Map<string, V>();
  return (key) => {
    if (cache.has(key)) {
      const value = cache.get(key) as V;
      cache.delete(key);
      cache.set(key, value);
      return value;
    }
    const value = fn(key);
    cache.set(key, value);
    if (cache.size > max) {
      const oldest = cache.keys().next();
      if (!oldest.done) {
        cache.delete(oldest.value);
      }
    }
    return value;
  };
}
