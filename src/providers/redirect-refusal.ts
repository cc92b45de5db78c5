// Provider requests never follow redirects: each carries a token, which a redirect would hand to wherever it points.

/** Why a redirect was not followed, for the operator: the configured address should be the one redirected to. */
export function redirectRefusal(response: Response): string {
  const location = response.headers.get('location');
  return `the server answered HTTP ${response.status}, a redirect${location ? ` to ${location.slice(0, 200)}` : ''}, which is not followed (the token would go along): set its address to where it redirects`;
}
