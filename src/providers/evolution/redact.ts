// Evolution's error texts go back to API callers (details.providerMessage / reason). A server or a proxy in front of
// it may echo the apikey it was sent; the instance token (callgate's secret for numbers onboarded by QR) and the
// global key must not ride along.

/** `text` with every occurrence of each non-empty secret replaced by `[redacted]`. */
export function withoutSecret(text: string, ...secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret) {
      out = out.split(secret).join('[redacted]');
    }
  }
  return out;
}
