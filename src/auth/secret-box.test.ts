// Secrets at rest: sealed with AES-256-GCM under SECRET_KEY; nothing but an intact seal of this key opens.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SecretBox } from './secret-box.ts';

test('a sealed secret opens under its key only, and a seal with its tag cut short does not open', () => {
  const box = new SecretBox('k1');
  const sealed = box.seal('app-secret');
  assert.notEqual(sealed, box.seal('app-secret'), 'a fresh IV each time');
  assert.equal(box.open(sealed), 'app-secret');
  assert.throws(() => new SecretBox('k2').open(sealed));

  // An empty secret's seal, its tag cut to 4 bytes: GCM checks only what it is given unless told the tag's length.
  const raw = Buffer.from(box.seal('').slice(3), 'base64');
  const cut = `v1:${raw.subarray(0, 16).toString('base64')}`;
  assert.throws(() => box.open(cut));
});

test('a previous key still opens what it sealed; new seals use the current key, which alone is current', () => {
  const old = new SecretBox('the key being replaced');
  const sealedBefore = old.seal('app-secret');
  const box = new SecretBox('the new key', 'the key being replaced');
  assert.equal(box.open(sealedBefore), 'app-secret');
  assert.equal(box.isCurrent(sealedBefore), false, 'rotate re-seals it');
  const sealedNow = box.seal('app-secret');
  assert.equal(box.isCurrent(sealedNow), true);
  assert.equal(new SecretBox('the new key').open(sealedNow), 'app-secret', 'opens once the previous key is dropped');
  assert.throws(() => old.open(sealedNow));
  assert.throws(() => new SecretBox('the new key', 'yet another key').open(sealedBefore));
});
