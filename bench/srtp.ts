// The SRTP rows of `npm run bench`: what protecting one RTP packet costs callgate's werift (patched: AES-CM with no
// Node object per packet, docs/design.md "Patched dependencies"), against the same profile made as werift 0.25.2
// made it (a cipher and an Hmac object per packet), each variant alone in its own process (bench/srtp-probe.ts).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { NODE, ROOT } from './lib.ts';
import type { Row } from './report.ts';

interface Probe {
  usPerPacket: number;
  gcUsPerPacket: number;
}

function probe(variant: 'aes-cm' | 'aes-gcm' | 'per-packet'): Probe {
  const run = spawnSync(NODE, [join(ROOT, 'bench/srtp-probe.ts'), variant], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) {
    throw new Error(`srtp probe ${variant} failed: ${run.stderr.slice(-500)}`);
  }
  return JSON.parse(run.stdout) as Probe;
}

export function srtpRows(note: (line: string) => void): Row[] {
  const patched = probe('aes-cm');
  const perPacket = probe('per-packet');
  const gcm = probe('aes-gcm');
  note(
    `SRTP per packet (encrypt + decrypt, 120-byte payload): AES-CM ${patched.usPerPacket.toFixed(1)} µs ` +
      `(GC ${patched.gcUsPerPacket.toFixed(2)} µs), AEAD-GCM ${gcm.usPerPacket.toFixed(1)} µs ` +
      `(GC ${gcm.gcUsPerPacket.toFixed(2)} µs), AES-CM with objects per packet ${perPacket.usPerPacket.toFixed(1)} µs ` +
      `(GC ${perPacket.gcUsPerPacket.toFixed(2)} µs)`,
  );
  return [
    {
      metric: 'SRTP protect + unprotect (AES-CM)',
      unit: 'µs/pkt',
      callgate: patched.usPerPacket,
      baseline: perPacket.usPerPacket,
      digits: 1,
      target: '—',
      pass: null,
    },
    {
      metric: 'SRTP GC time (AES-CM)',
      unit: 'µs/pkt',
      callgate: patched.gcUsPerPacket,
      baseline: perPacket.gcUsPerPacket,
      digits: 2,
      target: '—',
      pass: null,
    },
  ];
}
