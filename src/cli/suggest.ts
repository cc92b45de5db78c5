// "Did you mean …": the closest known word to a typo, by edit distance, so a mistyped command or flag names
// the one the user wanted instead of only failing.

// Edit distance counting a swap of two neighbours as one edit ("lsit" is one edit from "list").
function distance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const above = rows[i - 1] ?? [];
      let d = Math.min(
        (above[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        (above[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}

/** The candidate closest to `word` when it is near enough to be a typo (or `word` is its prefix), else undefined. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const d = candidate.startsWith(word) && word.length >= 2 ? 1 : distance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** `unknown <what> "x"; did you mean "y"?` plus the valid choices. */
export function unknownChoice(what: string, word: string, candidates: readonly string[]): string {
  const guess = closest(word, candidates);
  return `unknown ${what} "${word}"${guess ? `; did you mean "${guess}"?` : ''}\n  valid: ${candidates.join(', ')}`;
}
