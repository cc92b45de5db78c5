// Branded object ids: a CallId cannot be passed where a NumberId is expected. Generators live in src/ids.ts.
type Brand<P extends string> = `${P}_${string}` & { readonly __brand: P };

export type TenantId = Brand<'tenant'>;
export type NumberId = Brand<'num'>;
export type CallId = Brand<'call'>;
export type EventId = Brand<'evt'>;
export type KeyId = Brand<'key'>;
export type WebhookId = Brand<'whk'>;
