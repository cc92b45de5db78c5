import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { memoized } from '../memo.ts';

const boxKey = (secretKey: string): KeyObject =>
  createSecretKey(createHash('sha256').update(`callgate:secret-box:${secretKey}`).digest());

// Provider credentials at rest: AES-256-GCM, key derived from SECRET_KEY, "v1:" versioned
// so the scheme can change without guessing. A previous SECRET_KEY (SECRET_KEY_PREVIOUS) still opens what it
// sealed, so SECRET_KEY can be replaced without a stop: new seals use the current key, and
// `callgate secret-key rotate` re-seals the rest.
export class SecretBox {
  readonly #key: KeyObject;
  readonly #previous: KeyObject | null;
  // Opened secrets are remembered by their sealed text (unique per seal: random IV), so a provider request does
  // not pay for AES-GCM each time, and a changed secret is a new entry.
  readonly #opened = memoized((sealed: string) => this.#decrypt(sealed));
  constructor(secretKey: string, previousSecretKey: string | null = null) {
    this.#key = boxKey(secretKey);
    this.#previous = previousSecretKey === null ? null : boxKey(previousSecretKey);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string): string {
    return this.#opened(sealed);
  }

  /** Whether the current key sealed this (false: the previous key did, or neither can open it). */
  isCurrent(sealed: string): boolean {
    try {
      decrypt(this.#key, sealed);
      return true;
    } catch {
      return false;
    }
  }

  #decrypt(sealed: string): string {
    try {
      return decrypt(this.#key, sealed);
    } catch (error) {
      if (this.#previous === null) {
        throw error;
      }
      return decrypt(this.#previous, sealed);
    }
  }
}

function decrypt(key: KeyObject, sealed: string): string {
  if (!sealed.startsWith('v1:')) {
    throw new Error('unknown secret format');
  }
  const raw = Buffer.from(sealed.slice(3), 'base64');
  // The full 16-byte tag only: GCM would also take a tag cut to 4 bytes, a forgery 2^32 tries away.
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12), { authTagLength: 16 });
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}
