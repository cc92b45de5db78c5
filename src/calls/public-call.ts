// The public call object: what responses, the stream and webhooks show of a call.
import type { Call } from '../model/call.ts';

/** The public call object (docs/spec/calls-api.md §2); SDPs only when asked for. */
export function toPublicCall(call: Call, includeSdp = false) {
  const {
    eventSeq: _seq,
    pendingAction: _pending,
    tenantId: _tenant,
    maxDurationSeconds: _max,
    providerData: _data,
    sdpOffer,
    sdpAnswer,
    ...rest
  } = call;
  // peerIsLid: the caller is known only by a LID, which is no phone number anyone can dial.
  const peer = { ...rest, peerIsLid: call.peerNumber === null && call.peerLid !== null };
  const sandboxed = { ...peer, ...sandboxMark(call) };
  // The Meta call button or deeplink the user called from, where Meta named one.
  const marked = { ...sandboxed, ...entryPointOf(call.providerData) };
  return includeSdp ? { ...marked, sdpOffer, sdpAnswer } : marked;
}

/** Calls of sandbox numbers say so wherever a call is shown or acted on: responses, the stream, webhooks. */
export function sandboxMark(call: Call): { sandbox?: true } {
  return call.providerData?.sandbox === true ? { sandbox: true } : {};
}

function entryPointOf(data: Call['providerData']): {
  ctaPayload?: string;
  deeplinkPayload?: string;
  peerParentUserId?: string;
} {
  const cta = data?.ctaPayload;
  const deeplink = data?.deeplinkPayload;
  const parent = data?.peerParentUserId;
  return {
    ...(typeof cta === 'string' ? { ctaPayload: cta } : {}),
    ...(typeof deeplink === 'string' ? { deeplinkPayload: deeplink } : {}),
    ...(typeof parent === 'string' ? { peerParentUserId: parent } : {}),
  };
}
