import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

// Provider credentials at rest: AES-256-GCM, key derived from SECRET_KEY, "v1:" versioned
// so the scheme can change without guessing.
// Opened secrets are cached by their sealed text (unique per seal: random IV), so a provider request does not pay
// for AES-GCM and key preparation each time, and a changed secret is a new entry. Bounded: least recently used go.
const OPENED_CACHE_MAX = 1024;

export class SecretBox {
  readonly #key: KeyObject;
  readonly #opened = new Map<string, string>();
  constructor(secretKey: string) {
    this.#key = createSecretKey(createHash('sha256').update(`callgate:secret-box:${secretKey}`).digest());
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string): string {
    const cached = this.#opened.get(sealed);
    if (cached !== undefined) {
      this.#opened.delete(sealed);
      this.#opened.set(sealed, cached);
      return cached;
    }
    const plain = this.#decrypt(sealed);
    this.#opened.set(sealed, plain);
    if (this.#opened.size > OPENED_CACHE_MAX) this.#opened.delete(this.#opened.keys().next().value!);
    return plain;
  }

  #decrypt(sealed: string): string {
    if (!sealed.startsWith('v1:')) throw new Error('unknown secret format');
    const raw = Buffer.from(sealed.slice(3), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
