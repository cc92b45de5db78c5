// A provider webhook that no number of ours authenticated; the HTTP layer answers 401, whatever the provider.
export class UnauthenticatedWebhook extends Error {}
