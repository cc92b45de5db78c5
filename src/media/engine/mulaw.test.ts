import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sine } from '../../../test/helpers/tone.ts';
import { decodeMulaw, encodeMulaw } from './mulaw.ts';

test('μ-law matches G.711 reference code words', () => {
  // Values from the ITU-T G.711 tables: silence, the extremes and a few segment edges.
  assert.deepEqual(
    [...encodeMulaw(Int16Array.from([0, -1, 32767, -32768, 1000, -1000]))],
    [0xff, 0x7f, 0x80, 0x00, 0xce, 0x4e],
  );
  assert.deepEqual([...decodeMulaw(Uint8Array.from([0xff, 0x7f, 0x80, 0x00]))], [0, 0, 32124, -32124]);
});

test('every μ-law byte decodes and re-encodes to itself (except the two zeros, which meet at +0)', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const again = encodeMulaw(decodeMulaw(all));
  for (let i = 0; i < 256; i++) {
    assert.equal(again[i], i === 0x7f ? 0xff : i, `byte ${i}`);
  }
});

test('a tone through μ-law keeps its shape within the codec’s quantisation error', () => {
  const pcm = sine(440, 8000, 0.1);
  const back = decodeMulaw(encodeMulaw(pcm));
  for (let i = 0; i < pcm.length; i++) {
    const x = pcm[i] ?? 0;
    // μ-law error grows with the magnitude: at most half a step of the segment, about 3 % + 4.
    assert.ok(Math.abs((back[i] ?? 0) - x) <= Math.abs(x) * 0.035 + 4, `sample ${i}: ${x} → ${back[i]}`);
  }
});
