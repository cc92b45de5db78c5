// A werift peer's local SDP once ICE gathering is complete (on loopback that is at once), for the media bench's
// helper processes, which hand whole SDPs to the far end as WhatsApp does (no trickle ICE).
import type { RTCPeerConnection } from 'werift';

export async function gatheredSdp(pc: RTCPeerConnection): Promise<string> {
  if (pc.iceGatheringState !== 'complete') {
    await new Promise<void>((resolve) => {
      const { unSubscribe } = pc.iceGatheringStateChange.subscribe((s) => {
        if (s === 'complete') {
          unSubscribe();
          resolve();
        }
      });
    });
  }
  return pc.localDescription?.sdp ?? '';
}
