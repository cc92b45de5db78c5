// The media rows' baseline: a bare werift process that answers each caller peer's offer and sends every RTP packet
// it receives straight back (no Opus decode or encode, no mixing, no resampling, no pacing clock, no engine), so
// the ratio to callgate's figures shows what the engine itself costs over WebRTC's ICE/DTLS/SRTP.
//
// Control: POST /_offer {sdp} → {sdp} (the answer; media flows as soon as ICE and DTLS are done); POST /_close.
// Prints "LISTENING <port>".
import { MediaStreamTrack, type RTCPeerConnection } from 'werift';
import { createPeerFactory, LOOPBACK_ICE } from '../src/media/rtc/index.ts';
import { serveControl } from './control-server.ts';
import { gatheredSdp } from './gathered-sdp.ts';

const factory = createPeerFactory(LOOPBACK_ICE);
const peers = new Set<RTCPeerConnection>();

async function answer(offer: string): Promise<string> {
  const pc = factory.create();
  peers.add(pc);
  const track = new MediaStreamTrack({ kind: 'audio' });
  pc.onTrack.subscribe((remote) => {
    remote.onReceiveRtp.subscribe((rtp) => track.writeRtp(rtp));
  });
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  const transceiver = pc.getTransceivers().find((t) => t.kind === 'audio');
  if (!transceiver) {
    throw new Error('the offer has no audio');
  }
  transceiver.setDirection('sendrecv');
  await transceiver.sender.replaceTrack(track);
  await pc.setLocalDescription(await pc.createAnswer());
  return gatheredSdp(pc);
}

serveControl(async (path, body) => {
  switch (path) {
    case '/_offer':
      return { sdp: await answer(String(body.sdp)) };
    case '/_close':
      await Promise.all([...peers].map((pc) => pc.close().catch(() => undefined)));
      peers.clear();
      return { ok: true };
    default:
      throw new Error(`unknown path ${path}`);
  }
});
