// The benchmark's table: one row per figure, callgate beside its baseline with the ratio, the target and a verdict.

export interface Row {
  metric: string;
  unit: string;
  callgate: number;
  baseline: number;
  digits: number;
  target: string;
  pass: boolean | null;
}

/** The table's lines: a header, a rule, one line per row, columns aligned (numbers to the right). */
export function renderTable(rows: readonly Row[]): string[] {
  const fmt = (v: number, digits: number) =>
    Number.isNaN(v) ? 'n/a' : Number.isFinite(v) ? v.toFixed(digits) : 'timeout';
  const ratio = (r: Row) =>
    r.baseline > 0 && Number.isFinite(r.callgate) && Number.isFinite(r.baseline)
      ? `${(r.callgate / r.baseline).toFixed(2)}×`
      : 'n/a';
  const table = [
    ['metric', 'unit', 'callgate', 'baseline', 'ratio', 'target', 'result'],
    ...rows.map((r) => [
      r.metric,
      r.unit,
      fmt(r.callgate, r.digits),
      fmt(r.baseline, r.digits),
      ratio(r),
      r.target,
      r.pass === null ? '—' : r.pass ? 'pass' : 'MISS',
    ]),
  ];
  const widths = (table[0] ?? []).map((_, i) => Math.max(...table.map((row) => row[i]?.length ?? 0)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i >= 2 && i <= 4 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(table[0] ?? []), line(widths.map((w) => '-'.repeat(w))), ...table.slice(1).map(line)];
}
