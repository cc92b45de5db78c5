// Reading Prometheus text exposition in tests.

/** The value of one sample (labels in the order Prometheus writes them), or null when it is not exposed. */
export function sample(body: string, series: string): number | null {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} ([0-9.e+-]+)$`, 'm').exec(body);
  return m ? Number(m[1]) : null;
}
