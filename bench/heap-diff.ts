// `node bench/heap-diff.ts <earlier.heapsnapshot> <later.heapsnapshot>`: what grew between two heap snapshots of the
// soak (bench/soak.ts --snapshots), by constructor/type name: count and retained-by-self bytes, largest growth first.
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

function totals(path: string): Map<string, { count: number; bytes: number }> {
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = s.snapshot.meta.node_types[0];
  const byName = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + typeAt] ?? 0] ?? '?';
    const raw = type === 'object' || type === 'native' ? (s.strings[s.nodes[i + nameAt] ?? 0] ?? '?') : `(${type})`;
    const key = raw.length > 60 ? `${raw.slice(0, 57)}...` : raw;
    const t = byName.get(key) ?? { count: 0, bytes: 0 };
    t.count += 1;
    t.bytes += s.nodes[i + sizeAt] ?? 0;
    byName.set(key, t);
  }
  return byName;
}

const [earlier, later] = process.argv.slice(2);
if (!earlier || !later) {
  throw new Error('usage: node bench/heap-diff.ts <earlier.heapsnapshot> <later.heapsnapshot>');
}
const a = totals(earlier);
const b = totals(later);
const sum = (m: Map<string, { bytes: number }>) => [...m.values()].reduce((n, t) => n + t.bytes, 0);
process.stdout.write(`total self size: ${(sum(a) / 1e6).toFixed(1)} MB → ${(sum(b) / 1e6).toFixed(1)} MB\n`);
const rows = [...new Set([...a.keys(), ...b.keys()])]
  .map((name) => {
    const x = a.get(name) ?? { count: 0, bytes: 0 };
    const y = b.get(name) ?? { count: 0, bytes: 0 };
    return { name, dCount: y.count - x.count, dBytes: y.bytes - x.bytes, count: y.count, bytes: y.bytes };
  })
  .sort((p, q) => q.dBytes - p.dBytes)
  .slice(0, 25);
for (const r of rows) {
  process.stdout.write(
    `${(r.dBytes / 1e3).toFixed(0).padStart(9)} kB ${String(r.dCount).padStart(8)} objects   now ${(r.bytes / 1e3).toFixed(0).padStart(8)} kB ${String(r.count).padStart(8)}  ${r.name}\n`,
  );
}
