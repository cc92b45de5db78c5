// A Pilot Status client as its public docs describe it (docs/spec/pilot-compat.md): the paths, headers and bodies a
// Pilot integration sends, written from Pilot's documented requests and not from callgate's schemas, so the tests
// show that such a client runs against callgate unchanged.

export interface PilotAnswer {
  status: number;
  // Pilot's answers are JSON documents of many shapes; the tests read the fields Pilot documents.
  // biome-ignore lint/suspicious/noExplicitAny: the shape is what is under test
  body: any;
  headers: Headers;
}

export interface PilotClientOptions {
  baseUrl: string;
  /** `ps_…` */
  apiKey?: string;
  /** With a tenant key: "Scopes to a single number". */
  numberId?: string;
}

export class PilotClient {
  readonly #o: PilotClientOptions;
  constructor(options: PilotClientOptions) {
    this.#o = options;
  }

  /** The same client scoped to one number with x-whatsapp-number-id. */
  forNumber(numberId: string): PilotClient {
    return new PilotClient({ ...this.#o, numberId });
  }

  async request(method: string, path: string, body?: unknown): Promise<PilotAnswer> {
    // As Pilot's reference lists for every call, bodyless ones included.
    const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/json' };
    if (this.#o.apiKey) {
      headers['x-api-key'] = this.#o.apiKey;
    }
    if (this.#o.numberId) {
      headers['x-whatsapp-number-id'] = this.#o.numberId;
    }
    const res = await fetch(this.#o.baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  }

  // Calls
  createCall(body: { to: string; sdp?: string; bizOpaqueCallbackData?: string }) {
    return this.request('POST', '/v1/calls', body);
  }
  listCalls(query = '') {
    return this.request('GET', `/v1/calls${query}`);
  }
  getCall(id: string) {
    return this.request('GET', `/v1/calls/${id}`);
  }
  callEvents(id: string) {
    return this.request('GET', `/v1/calls/${id}/events`);
  }
  acceptCall(id: string, sdp: string) {
    return this.request('POST', `/v1/calls/${id}/accept`, { sdp });
  }
  preAcceptCall(id: string, sdp: string) {
    return this.request('POST', `/v1/calls/${id}/pre-accept`, { sdp });
  }
  rejectCall(id: string) {
    return this.request('POST', `/v1/calls/${id}/reject`);
  }
  terminateCall(id: string) {
    return this.request('POST', `/v1/calls/${id}/terminate`);
  }
  getCallSettings() {
    return this.request('GET', '/v1/calls/settings');
  }
  /** Pilot's body is flat: `{"status":"ENABLED"}`. */
  updateCallSettings(settings: Record<string, unknown>) {
    return this.request('PUT', '/v1/calls/settings', settings);
  }
  callPermissions(to: string) {
    return this.request('GET', `/v1/calls/permissions?to=${encodeURIComponent(to)}`);
  }
  requestCallPermission(to: string) {
    return this.request('POST', '/v1/calls/permissions/request', { to });
  }

  // Webhooks
  createWebhook(body: { url: string; name?: string; events?: string[]; whatsappNumberId?: string }) {
    return this.request('POST', '/v1/webhooks', body);
  }
  listWebhooks() {
    return this.request('GET', '/v1/webhooks');
  }
  getWebhook(id: string) {
    return this.request('GET', `/v1/webhooks/${id}`);
  }
  updateWebhook(id: string, body: { name?: string; url?: string; active?: boolean; events?: string[] }) {
    return this.request('PATCH', `/v1/webhooks/${id}`, body);
  }
  deleteWebhook(id: string) {
    return this.request('DELETE', `/v1/webhooks/${id}`);
  }
  webhookLogs(id: string, query = '') {
    return this.request('GET', `/v1/webhooks/${id}/logs${query}`);
  }

  // API keys
  listApiKeys() {
    return this.request('GET', '/v1/api-keys');
  }
  createApiKey(whatsappNumberId?: string) {
    return this.request('POST', '/v1/api-keys', whatsappNumberId === undefined ? {} : { whatsappNumberId });
  }
  regenerateApiKey(whatsappNumberId: string) {
    return this.request('POST', '/v1/api-keys/regenerate', { whatsappNumberId });
  }

  // Numbers
  listNumbers() {
    return this.request('GET', '/v1/numbers');
  }
  getNumber(id: string) {
    return this.request('GET', `/v1/numbers/${id}`);
  }
  deleteNumber(id: string) {
    return this.request('DELETE', `/v1/numbers/${id}`);
  }
  createWebNumber(body: { name: string; number: string; linkToApiKey?: boolean }) {
    return this.request('POST', '/v1/numbers', body);
  }
  numberStatus(id: string) {
    return this.request('GET', `/v1/numbers/${id}/status`);
  }
  /** Pilot's reconnect is a GET (callgate also takes POST, with {phone} for a pairing code). */
  reconnectNumber(id: string) {
    return this.request('GET', `/v1/numbers/${id}/connect`);
  }
}
