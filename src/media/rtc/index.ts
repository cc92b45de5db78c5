// The media basics other parts of callgate build on (sandbox users, the server media engine).
export type { EndpointState } from './audio-endpoint.ts';
export { AudioEndpoint, type AudioEndpointOptions } from './audio-endpoint.ts';
export { DTMF_DIGITS_PATTERN, type DtmfDigit } from './dtmf.ts';
export { type FrameClock, realtimeFrameClock } from './frame-clock.ts';
export { OpusCodec, type OpusRate } from './opus.ts';
export { opusNative } from './opus-native.ts';
export { createPeerFactory, type IcePolicy, LOOPBACK_ICE, opusCodec, type PeerFactory } from './peer-factory.ts';
export {
  EchoSource,
  type PcmSource,
  pcmSource,
  silenceSource,
  toneSource,
  wavFileSource,
  wavSource,
} from './sources.ts';
