/**
 * The address a person opens for a listener bound to `host`: a wildcard bind (0.0.0.0, ::) is shown as localhost,
 * which works from the machine itself, and an IPv6 literal gets its brackets.
 */
export function publicBase(host: string, port: number): string {
  const shown =
    host === '0.0.0.0' || host === '::' || host === '' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}
