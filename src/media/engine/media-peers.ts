// The peers server media makes, from MediaConfig's ICE settings: loopback-only when the announced address is a
// loopback one (tests, benches), the configured addresses, ports and STUN servers otherwise.

import { isLoopbackAddress, type MediaConfig } from '../../config.ts';
import { createPeerFactory, LOOPBACK_ICE, type PeerFactory } from '../rtc/index.ts';

export type MediaIceConfig = Pick<MediaConfig, 'publicIp' | 'portRange' | 'stunUrls'>;

export function peerFactoryFor(config: MediaIceConfig): PeerFactory {
  if (config.publicIp && isLoopbackAddress(config.publicIp)) {
    return createPeerFactory(LOOPBACK_ICE);
  }
  return createPeerFactory({
    kind: 'configured',
    announceAddresses: config.publicIp ? [config.publicIp] : [],
    ...(config.portRange ? { portRange: config.portRange } : {}),
    stunUrls: config.stunUrls,
  });
}
