// The SDK's public types, read off the server's OpenAPI document (src/generated/openapi.ts, regenerated with
// `npm run sdk:types`): nothing here restates a field the server already describes.
import type { paths } from './generated/openapi.ts';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type JsonContent<T> = T extends { content: { 'application/json': infer B } } ? B : never;

/** The JSON body of a response of an operation (200 unless told). */
export type ResponseBody<P extends keyof paths, M extends Method, S extends number = 200> =
  Operation<P, M> extends { responses: infer R } ? (S extends keyof R ? JsonContent<R[S]> : never) : never;
/** The JSON request body of an operation. */
export type RequestBody<P extends keyof paths, M extends Method> = JsonContent<
  NonNullable<Operation<P, M>['requestBody']>
>;
/** The query parameters of an operation. */
export type QueryParams<P extends keyof paths, M extends Method> = NonNullable<Operation<P, M>['parameters']['query']>;

// Calls
export type Call = ResponseBody<'/v1/calls/{callId}', 'get'>;
export type CallStatus = Call['status'];
export type CallDirection = Call['direction'];
export type ListCallsParams = Partial<QueryParams<'/v1/calls', 'get'>>;
export type CreateCallInput = RequestBody<'/v1/calls', 'post'>;
export type CreatedCall = ResponseBody<'/v1/calls', 'post', 201>;
/** What accept, pre-accept, reject, terminate and play answer. */
export type CallActionResult = ResponseBody<'/v1/calls/{callId}/terminate', 'post'>;
export type AcceptCallInput = RequestBody<'/v1/calls/{callId}/accept', 'post'>;
export type PreAcceptCallInput = RequestBody<'/v1/calls/{callId}/pre-accept', 'post'>;
export type PlayInput = RequestBody<'/v1/calls/{callId}/play', 'post'>;
export type RealtimeSessionInput = RequestBody<'/v1/calls/{callId}/realtime-session', 'post'>;
export type RealtimeSession = ResponseBody<'/v1/calls/{callId}/realtime-session', 'post'>;
export type TimelineEntry = ResponseBody<'/v1/calls/{callId}/events', 'get'>['events'][number];
export type CallingSettings = ResponseBody<'/v1/calls/settings', 'get'>;
/** Pilot's flat body (`{status:"ENABLED"}`) or `{calling:{…}}`. */
export type UpdateCallingSettingsInput = RequestBody<'/v1/calls/settings', 'put'>;
/** `{success: true, calling}`: the settings after the change. */
export type UpdatedCallingSettings = ResponseBody<'/v1/calls/settings', 'put'>;
export type CallPermission = ResponseBody<'/v1/calls/permissions', 'get'>;
export type RequestPermissionInput = RequestBody<'/v1/calls/permissions/request', 'post'>;
export type RequestPermissionResult = ResponseBody<'/v1/calls/permissions/request', 'post'>;

// Sandbox numbers
export type SimulateCallInput = RequestBody<'/v1/sandbox/calls', 'post'>;
export type SimulatedCall = ResponseBody<'/v1/sandbox/calls', 'post', 201>;
export type SimulatedUser = ResponseBody<'/v1/sandbox/calls/{callId}', 'get'>;
export type SimulatedKeys = ResponseBody<'/v1/sandbox/calls/{callId}/dtmf', 'post', 202>;

// Numbers and keys
export type WhatsAppNumber = ResponseBody<'/v1/numbers/{id}', 'get'>;
type CreateNumberBody = RequestBody<'/v1/numbers', 'post'>;
/** A number with its provider credentials (META or EVO_GO). */
export type CreateNumberInput = Extract<CreateNumberBody, { provider: unknown }>;
/** PATCH /v1/numbers/{id}: e.g. `{recordCalls: true}` records every server-media call of the number. */
export type UpdateNumberInput = RequestBody<'/v1/numbers/{id}', 'patch'>;
/** DELETE /v1/numbers/{id}: `force: true` deletes a number whose live calls the provider can no longer end. */
export interface DeleteNumberParams {
  force?: boolean;
}
/** Pilot's web number, onboarded by QR on the server's own Evolution Go (EVOLUTION_BASE_URL). */
export type CreateWebNumberInput = Exclude<CreateNumberBody, { provider: unknown }>;
type CreatedNumberBody = ResponseBody<'/v1/numbers', 'post', 201>;
export type IssuedApiKey = NonNullable<CreatedNumberBody['apiKey']>;
/** A number registered with its credentials always comes with its key, shown this once. */
export type CreatedNumber = Omit<CreatedNumberBody, 'apiKey' | 'qrcode' | 'code'> & { apiKey: IssuedApiKey };
/** A web number by QR: the QR to scan, and the key unless linkToApiKey was false. */
export type CreatedWebNumber = CreatedNumberBody;
export type NumberConnection = ResponseBody<'/v1/numbers/{id}/status', 'get'>;
/** One item per number (Pilot's shape): the key masked, never revealable. */
export type MaskedApiKey = ResponseBody<'/v1/api-keys', 'get'>[number];
export type CreatedApiKey = ResponseBody<'/v1/api-keys', 'post', 201>;
export type RegeneratedKey = ResponseBody<'/v1/api-keys/{numberId}/regenerate', 'post'>;
export type CurrentApiKey = ResponseBody<'/v1/api-keys/current', 'get'>;

// Webhooks
export type Webhook = ResponseBody<'/v1/webhooks/{id}', 'get'>;
export type CreateWebhookInput = RequestBody<'/v1/webhooks', 'post'>;
export type CreatedWebhook = ResponseBody<'/v1/webhooks', 'post', 201>;
export type UpdateWebhookInput = RequestBody<'/v1/webhooks/{id}', 'patch'>;
export type RotatedSecret = ResponseBody<'/v1/webhooks/{id}/rotate-secret', 'post'>;
export type WebhookLogEntry = ResponseBody<'/v1/webhooks/{id}/logs', 'get'>['logs'][number];
export type WebhookLogsParams = Partial<QueryParams<'/v1/webhooks/{id}/logs', 'get'>>;
export type ReplayResult = ResponseBody<'/v1/webhooks/{id}/replay', 'post', 202>;
/** call.ringing, call.connected, call.ended, call.missed, call.permission_updated, calls. */
export type WebhookEventType = ResponseBody<'/v1/webhooks/event-types', 'get'>['events'][number];
/** The events callgate sends (the logs filter also takes Pilot's message.* and number.* names, which match nothing). */
export type WebhookEventName = WebhookEventType['name'];

// Event payloads (webhook bodies and the SSE stream's data). The document has no schema for them (they are
// not responses), so they are composed from the call object: docs/spec/webhooks.md, "Payloads are flat".
export type CallEventName = Exclude<
  WebhookEventName,
  'call.permission_updated' | 'call.recording_ready' | 'call.dtmf' | 'calls'
>;
export type CallEvent = Omit<Call, 'sdpOffer' | 'sdpAnswer'> & {
  event: CallEventName;
  eventId: string;
  /** The call's events count from 1: order by it, deliveries may be reordered after retries. */
  sequence: number;
  occurredAt: string;
};
export interface PermissionUpdatedEvent {
  event: 'call.permission_updated';
  eventId: string;
  occurredAt: string;
  numberId: string;
  /** null when Meta names the user only by its business-scoped user id (peerUserId). */
  peerNumber: string | null;
  peerUserId?: string;
  status: 'NO_PERMISSION' | 'TEMPORARY' | 'PERMANENT';
  expiresAt?: string;
  /** Not about a call: there is no call id (declared so `event.id` reads on the union). */
  id?: undefined;
}
/** A server-media call's recording was finished: `ready` to download, or `failed`. Not a call snapshot. */
export interface RecordingReadyEvent {
  event: 'call.recording_ready';
  eventId: string;
  occurredAt: string;
  callId: string;
  numberId: string;
  recording: { status: 'ready' | 'failed'; durationSeconds: number | null; sizeBytes: number | null };
  /** Not a call object: the call is `callId` (declared so `event.id` reads on the union). */
  id?: undefined;
}
/** The caller pressed a key on a server-media call (RFC 4733 telephone event). Not a call snapshot. */
export interface DtmfEvent {
  event: 'call.dtmf';
  eventId: string;
  occurredAt: string;
  callId: string;
  numberId: string;
  digit: '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#' | 'A' | 'B' | 'C' | 'D';
  /** The call's keys so far (its last 64), this one last: "gather until #" reads it whole. */
  digits: string;
  /** The call's keys counted from 1: order by it, deliveries may be reordered after retries. */
  count: number;
  /** Not a call object: the call is `callId` (declared so `event.id` reads on the union). */
  id?: undefined;
}
/** Pilot's `calls` event (META numbers): Meta's raw `calls` change value, SDPs included, for custom WebRTC signaling. */
export interface RawCallsEvent {
  event: 'calls';
  eventId: string;
  occurredAt: string;
  data: Record<string, unknown>;
  id?: undefined;
}
export type WebhookEvent = CallEvent | PermissionUpdatedEvent | RecordingReadyEvent | DtmfEvent | RawCallsEvent;
/** What the live stream carries: the webhook payloads except the raw `calls` event (webhooks only). */
export type StreamEventData = CallEvent | PermissionUpdatedEvent | RecordingReadyEvent | DtmfEvent;
