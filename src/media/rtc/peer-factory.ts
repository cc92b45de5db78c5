// Makes werift peer connections with one ICE policy: loopback-only for tests, configured addresses otherwise.
import { type PeerConfig, RTCPeerConnection, RTCRtpCodecParameters } from 'werift';

export type IcePolicy =
  /** Gather, bind and pair on 127.0.0.1 only: no packet can leave the machine (every test). */
  | { kind: 'loopback' }
  | {
      kind: 'configured';
      /** Addresses announced as host candidates (e.g. MEDIA_PUBLIC_IP); empty means every local interface. */
      announceAddresses: string[];
      /** Local address the UDP sockets bind to; all interfaces when omitted. */
      bindAddress?: string;
      portRange?: [number, number];
      /** stun:host:port URLs for server-reflexive candidates. */
      stunUrls?: string[];
    };

export const LOOPBACK_ICE: IcePolicy = { kind: 'loopback' };

export interface PeerFactory {
  readonly policy: IcePolicy;
  create(): RTCPeerConnection;
}

/** Opus as browsers and WhatsApp offer it (48 kHz, 2 channels in SDP, mono in practice). */
export function opusCodec(payloadType = 111): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: 'audio/opus',
    clockRate: 48_000,
    channels: 2,
    payloadType,
    parameters: 'minptime=10;useinbandfec=1',
    rtcpFeedback: [{ type: 'transport-cc' }],
  });
}

/**
 * Keypad digits (RFC 4733), as WhatsApp offers them: received from the caller, sent by test and sandbox callers.
 * Negotiated after Opus, so Opus stays the codec audio is sent as.
 */
export function telephoneEventCodec(payloadType = 126): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: 'audio/telephone-event',
    clockRate: 8000,
    payloadType,
    parameters: '0-16',
  });
}

export function createPeerFactory(policy: IcePolicy): PeerFactory {
  const config = peerConfig(policy);
  return { policy, create: () => new RTCPeerConnection(config) };
}

// werift 0.25 queries its own default STUN server (a public Google one) whenever none is configured, and an SDP
// waits for that query, up to 5 s when the name or the server does not answer (a closed network): every answer
// waited on it. patches/werift+0.25.2.patch drops that default (no third party is asked about our calls); the
// zero wait still keeps an SDP from being held should werift run unpatched.
const NO_STUN_WAIT: Partial<PeerConfig> = { iceServers: [], iceStunGatherTimeout: 0 };

function peerConfig(policy: IcePolicy): Partial<PeerConfig> {
  const common: Partial<PeerConfig> = {
    codecs: { audio: [opusCodec(), telephoneEventCodec()] },
    iceUseTcp: false,
    bundlePolicy: 'max-bundle',
  };
  if (policy.kind === 'loopback') {
    return {
      ...common,
      // No interface is enumerated; 127.0.0.1 is the only host address, bound there, and only paired with itself.
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceInterfaceAddresses: { udp4: '127.0.0.1' },
      iceFilterCandidatePair: (pair) => pair.remoteCandidate.host === '127.0.0.1',
      ...NO_STUN_WAIT,
    };
  }
  const announce = policy.announceAddresses;
  return {
    ...common,
    ...(announce.length > 0
      ? { iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: announce }
      : { iceUseIpv4: true, iceUseIpv6: false }),
    ...(policy.bindAddress ? { iceInterfaceAddresses: { udp4: policy.bindAddress } } : {}),
    ...(policy.portRange ? { icePortRange: policy.portRange } : {}),
    ...(policy.stunUrls?.length ? { iceServers: policy.stunUrls.map((urls) => ({ urls })) } : NO_STUN_WAIT),
  };
}
