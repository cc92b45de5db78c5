// The instance side of Evolution Go (docs/spec/pilot-compat.md §5): create an instance with the server's global
// key, subscribe it to calls, hand out its QR or pairing code, read its status. Reply shapes as the server's
// pkg/instance writes them: QrcodeStruct {qrcode, code}; StatusStruct and PairReturnStruct have no json tags, so
// their fields arrive as Go names (Connected, LoggedIn, PairingCode); older servers are read the same way.

import { AnswerTooLargeError, cappedText, MAX_PROVIDER_ANSWER_BYTES } from '../capped-text.ts';
import { redirectRefusal } from '../redirect-refusal.ts';
import type { ProviderResult } from '../types.ts';
import { failure } from '../types.ts';
import { type AllowedHosts, HOST_NOT_ALLOWED, isAllowedHost } from './allowed-hosts.ts';
import { retryAfterOf } from './client.ts';
import { withoutSecret } from './redact.ts';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Our calls need these events: CALL (offers, ends) and CONNECTION (the number's state). */
export const SUBSCRIBED_EVENTS = ['CALL', 'CONNECTION'] as const;

export interface InstanceQr {
  /** data:image/png;base64,… to show. */
  qrcode: string | null;
  /** The raw string the QR encodes. */
  code: string | null;
}
export interface InstanceStatus {
  connected: boolean;
  loggedIn: boolean;
}

/** Either casing: the server writes Go field names where its structs have no json tags. */
function field(data: Json, name: string): unknown {
  return data[name] ?? data[name.charAt(0).toUpperCase() + name.slice(1)];
}

export class EvolutionInstances {
  readonly #timeoutMs: number;
  readonly #allowedHosts: AllowedHosts;
  /** allowedHosts: EVOLUTION_ALLOWED_HOSTS, which the servers of numbers registered before it may not be on. */
  constructor(timeoutMs: number, allowedHosts: AllowedHosts = null) {
    this.#timeoutMs = timeoutMs;
    this.#allowedHosts = allowedHosts;
  }

  /** POST /instance/create with the global key; rejectCall:false so CallOffer webhooks are sent at all. */
  async create(
    baseUrl: string,
    globalApiKey: string,
    instance: { name: string; token: string },
  ): Promise<ProviderResult<{ instanceId: string }>> {
    const reply = await this.#send(baseUrl, globalApiKey, 'POST', '/instance/create', {
      name: instance.name,
      token: instance.token,
      advancedSettings: {
        alwaysOnline: false,
        rejectCall: false,
        msgRejectCall: '',
        readMessages: false,
        ignoreGroups: true,
        ignoreStatus: true,
      },
    });
    if (!reply.ok) {
      return reply;
    }
    const id = field(reply.value, 'id');
    return typeof id === 'string' && id !== ''
      ? { ok: true, value: { instanceId: id } }
      : failure('PROVIDER_DOWN', 'Evolution Go created the instance without an id');
  }

  /** DELETE /instance/delete/:instanceId with the global key: the instance, its session and its webhook go. */
  async remove(baseUrl: string, globalApiKey: string, instanceId: string): Promise<ProviderResult<Json>> {
    return this.#send(
      baseUrl,
      globalApiKey,
      'DELETE',
      `/instance/delete/${encodeURIComponent(instanceId)}`,
      undefined,
      null,
    );
  }

  /** POST /instance/connect: our webhook, CALL and CONNECTION events; `immediate:false` waits for the QR scan. */
  async subscribe(baseUrl: string, token: string, webhookUrl: string): Promise<ProviderResult<{ events: string }>> {
    const reply = await this.#send(baseUrl, token, 'POST', '/instance/connect', {
      webhookUrl,
      subscribe: [...SUBSCRIBED_EVENTS],
      immediate: false,
      phone: '',
    });
    if (!reply.ok) {
      return reply;
    }
    const events = field(reply.value, 'eventString');
    return { ok: true, value: { events: typeof events === 'string' ? events : '' } };
  }

  /** DELETE /instance/logout with the instance token: the device is unlinked from the phone (the instance stays). */
  async logout(baseUrl: string, token: string): Promise<ProviderResult<Json>> {
    return this.#send(baseUrl, token, 'DELETE', '/instance/logout', undefined, null);
  }

  async qr(baseUrl: string, token: string): Promise<ProviderResult<InstanceQr>> {
    const reply = await this.#send(baseUrl, token, 'GET', '/instance/qr');
    if (!reply.ok) {
      return reply;
    }
    const qrcode = field(reply.value, 'qrcode');
    const code = field(reply.value, 'code');
    return {
      ok: true,
      value: { qrcode: typeof qrcode === 'string' ? qrcode : null, code: typeof code === 'string' ? code : null },
    };
  }

  /** POST /instance/pair {phone}: the code the user types in WhatsApp instead of scanning. */
  async pairingCode(baseUrl: string, token: string, phone: string): Promise<ProviderResult<{ pairingCode: string }>> {
    const reply = await this.#send(baseUrl, token, 'POST', '/instance/pair', { phone });
    if (!reply.ok) {
      return reply;
    }
    const code = field(reply.value, 'pairingCode');
    return typeof code === 'string' && code !== ''
      ? { ok: true, value: { pairingCode: code } }
      : failure('PROVIDER_DOWN', 'Evolution Go answered without a pairing code');
  }

  async status(baseUrl: string, token: string): Promise<ProviderResult<InstanceStatus>> {
    const reply = await this.#send(baseUrl, token, 'GET', '/instance/status');
    if (!reply.ok) {
      return reply;
    }
    return {
      ok: true,
      value: {
        connected: field(reply.value, 'connected') === true,
        loggedIn: field(reply.value, 'loggedIn') === true,
      },
    };
  }

  /** GET /instance/:id/advanced-settings: is rejectCall off (or CallOffer never arrives)? */
  async rejectsCalls(baseUrl: string, token: string, instanceId: string): Promise<ProviderResult<boolean>> {
    const reply = await this.#send(
      baseUrl,
      token,
      'GET',
      `/instance/${encodeURIComponent(instanceId)}/advanced-settings`,
      undefined,
      'settings',
    );
    return reply.ok ? { ok: true, value: reply.value.rejectCall === true } : reply;
  }

  /** One request; answers the reply's `data` (or `settings`) object. */
  async #send(
    baseUrl: string,
    apikey: string,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: Json,
    /** null: any 2xx will do, whatever its body. */
    key: 'data' | 'settings' | null = 'data',
  ): Promise<ProviderResult<Json>> {
    if (!isAllowedHost(baseUrl, this.#allowedHosts)) {
      return failure('CONFIG', `the Evolution Go baseUrl ${HOST_NOT_ALLOWED}`);
    }
    let response: Response;
    let json: unknown = null;
    try {
      response = await fetch(baseUrl + path, {
        method,
        headers: { apikey, 'content-type': 'application/json', accept: 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
        // fetch would follow a redirect with the apikey header (only Authorization is dropped across origins).
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const text = await cappedText(response);
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    } catch (error) {
      if (error instanceof AnswerTooLargeError) {
        return failure(
          'PROVIDER_DOWN',
          `the Evolution Go server sent an answer over ${MAX_PROVIDER_ANSWER_BYTES} bytes`,
        );
      }
      // A slow server is not an unreachable one: the operator looks at different things.
      const timedOut = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
      return failure(
        'PROVIDER_DOWN',
        timedOut
          ? `the Evolution Go server did not answer within ${this.#timeoutMs} ms`
          : 'the Evolution Go server could not be reached',
      );
    }
    const error =
      isObject(json) && typeof json.error === 'string'
        ? withoutSecret(json.error, apikey, typeof body?.token === 'string' ? body.token : '')
        : `HTTP ${response.status}`;
    if (response.status === 401) {
      return failure('AUTH', 'the Evolution Go server refused the key', 401);
    }
    if (response.status === 429) {
      // The server's limit, not a refusal of what callgate sent: the client may come back (after Retry-After).
      const retryAfterSeconds = retryAfterOf(response.headers.get('retry-after'), Date.now());
      return failure('RATE_LIMITED', error, 429, retryAfterSeconds !== undefined ? { retryAfterSeconds } : {});
    }
    if (response.status >= 500) {
      return failure('PROVIDER_DOWN', error, response.status);
    }
    if (response.status >= 300 && response.status < 400) {
      return failure('CONFIG', redirectRefusal(response), response.status);
    }
    if (!response.ok) {
      return failure('INVALID_REQUEST', error, response.status);
    }
    if (key === null) {
      return { ok: true, value: isObject(json) ? json : {} };
    }
    const data = isObject(json) ? json[key] : undefined;
    return isObject(data)
      ? { ok: true, value: data }
      : failure('PROVIDER_DOWN', `Evolution Go answered without ${key}`);
  }
}
