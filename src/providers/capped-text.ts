// A provider's answer read as text up to a size: an Evolution server is whatever address a tenant gave, and an
// answer without end must not be buffered whole by the gateway every tenant shares.

/** More than any provider answer callgate reads (a QR code as a data URL is tens of KiB). */
export const MAX_PROVIDER_ANSWER_BYTES = 1024 * 1024;

export class AnswerTooLargeError extends Error {
  constructor(maxBytes: number) {
    super(`the answer is larger than ${maxBytes} bytes`);
    this.name = 'AnswerTooLargeError';
  }
}

/** The body as UTF-8 text; past `maxBytes` the read stops and AnswerTooLargeError is thrown. */
export async function cappedText(response: Response, maxBytes = MAX_PROVIDER_ANSWER_BYTES): Promise<string> {
  if (!response.body) {
    return '';
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      return Buffer.concat(chunks).toString('utf8');
    }
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new AnswerTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
}
