// Caller peers for the media rows of `npm run bench`, in their own process: werift peers playing WhatsApp users.
// Each sends a 440 Hz tone as pre-encoded Opus (so this process spends nothing on encoding), every 20 ms at one of
// four offsets 5 ms apart (one shared clock), and timestamps every RTP packet it receives: inter-arrival times give
// the far end's frame pacing, RTP sequence gaps its lost frames. The same process is the Meta Graph stand-in of callgate's media phase: the
// SDP answer callgate sends with `accept` is applied to the peer of that call, as Meta's servers would.
//
// Control (JSON over HTTP): POST /_offers {count} → {offers: [{id, sdp}]}; POST /_answer {id, sdp} (the baseline's
// path); POST /_window starts a measuring window and answers the previous one's figures; POST /_hangup {id} closes
// one caller (the soak's caller hanging up); POST /_close. Any other POST is a Graph request: a `terminate` closes
// that call's caller, as the user's phone would. Prints "LISTENING <port>".
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { MediaStreamTrack, type RtpPacket as ReceivedRtp, type RTCPeerConnection, RtpHeader, RtpPacket } from 'werift';
import { FRAME_SAMPLES } from '../src/media/audio/pcm.ts';
import { tone } from '../src/media/audio/tone.ts';
import { createPeerFactory, LOOPBACK_ICE, OpusCodec } from '../src/media/rtc/index.ts';
import { serveControl } from './control-server.ts';
import { gatheredSdp } from './gathered-sdp.ts';
import { startStaggeredClock } from './staggered-clock.ts';

const factory = createPeerFactory(LOOPBACK_ICE);
const GRAPH_OK = Buffer.from('{"messaging_product":"whatsapp","success":true}');

// One second of 440 Hz, encoded once: every peer loops these 50 packets.
const TONE_PACKETS: Buffer[] = (() => {
  const codec = new OpusCodec();
  const pcm = tone(440, 1);
  const packets: Buffer[] = [];
  for (let i = 0; i + FRAME_SAMPLES <= pcm.length; i += FRAME_SAMPLES) {
    packets.push(codec.encode(pcm.subarray(i, i + FRAME_SAMPLES)));
  }
  codec.close();
  return packets;
})();

export interface PeerWindow {
  /** Inter-arrival times of RTP packets at the peers, ms, all peers together. */
  intervalsMs: number[];
  /** Frames missing by RTP sequence number. */
  lost: number;
  received: number;
  /** Peers connected and receiving during the window. */
  peers: number;
  /** Per call id: epoch ms of the first RTP packet heard. */
  firstAudioAt: Record<string, number>;
  /** This process's own event-loop delay p99 in ms: when high, the measurement itself is late. */
  loopDelayP99Ms: number;
}

class Peer {
  readonly pc: RTCPeerConnection = factory.create();
  readonly track = new MediaStreamTrack({ kind: 'audio' });
  connected = false;
  answered = false;
  firstAudioAt = 0;
  #sent = 0;
  #lastSeq = -1;
  #lastArrival = 0;

  readonly id: string;

  constructor(id: string) {
    this.id = id;
    this.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => this.#receive(rtp));
    });
    this.pc.connectionStateChange.subscribe((state) => {
      this.connected = state === 'connected';
    });
  }

  async offer(): Promise<string> {
    this.pc.addTransceiver(this.track, { direction: 'sendrecv' });
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return gatheredSdp(this.pc);
  }

  async answer(sdp: string): Promise<void> {
    if (this.answered) {
      return;
    }
    this.answered = true;
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  send(): void {
    if (!this.connected) {
      return;
    }
    const header = new RtpHeader({
      payloadType: 111,
      sequenceNumber: this.#sent % 0x10000,
      timestamp: (this.#sent * FRAME_SAMPLES) % 0x100000000,
      marker: this.#sent === 0,
    });
    this.track.writeRtp(new RtpPacket(header, TONE_PACKETS[this.#sent % TONE_PACKETS.length] ?? Buffer.alloc(0)));
    this.#sent += 1;
  }

  #receive(rtp: ReceivedRtp): void {
    const now = performance.now();
    if (this.firstAudioAt === 0) {
      this.firstAudioAt = performance.timeOrigin + now;
    }
    const seq = rtp.header.sequenceNumber;
    if (this.#lastSeq >= 0) {
      const gap = (seq - this.#lastSeq - 1 + 0x10000) % 0x10000;
      // A huge "gap" is a reordered or duplicated packet, not thousands of lost ones.
      if (gap < 0x8000) {
        window.lost += gap;
        this.#lastSeq = seq;
      }
      window.intervalsMs.push(now - this.#lastArrival);
    } else {
      this.#lastSeq = seq;
    }
    this.#lastArrival = now;
    window.received += 1;
    window.heard.add(this.id);
  }
}

const peers = new Map<string, Peer>();
let window = { intervalsMs: [] as number[], lost: 0, received: 0, heard: new Set<string>() };
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();

startStaggeredClock(
  () => peers.values(),
  (peer) => peer.send(),
);

function takeWindow(): PeerWindow {
  const firstAudioAt: Record<string, number> = {};
  for (const peer of peers.values()) {
    if (peer.firstAudioAt > 0) {
      firstAudioAt[peer.id] = peer.firstAudioAt;
    }
  }
  const taken: PeerWindow = {
    intervalsMs: window.intervalsMs,
    lost: window.lost,
    received: window.received,
    peers: window.heard.size,
    firstAudioAt,
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
  };
  window = { intervalsMs: [], lost: 0, received: 0, heard: new Set() };
  loopDelay.reset();
  return taken;
}

/** Closes one caller and forgets it (a churn of calls must not pile them up here). */
async function hangUp(id: string): Promise<void> {
  const peer = peers.get(id);
  peers.delete(id);
  await peer?.pc.close().catch(() => undefined);
}

let nextId = 0;
async function handle(path: string, body: Record<string, unknown>): Promise<unknown> {
  switch (path) {
    case '/_offers': {
      const count = Number(body.count);
      const made = Array.from({ length: count }, () => new Peer(`bench.media.${nextId++}`));
      for (const peer of made) {
        peers.set(peer.id, peer);
      }
      return { offers: await Promise.all(made.map(async (p) => ({ id: p.id, sdp: await p.offer() }))) };
    }
    case '/_answer':
      await peers.get(String(body.id))?.answer(String(body.sdp));
      return { ok: true };
    case '/_window':
      return takeWindow();
    case '/_hangup':
      await hangUp(String(body.id));
      return { ok: true };
    case '/_close':
      await Promise.all([...peers.values()].map((p) => p.pc.close().catch(() => undefined)));
      peers.clear();
      return { ok: true };
    default: {
      // A Graph request from callgate: accept/pre_accept carry the answer for the call's peer.
      const session = body.session as { sdp?: string } | undefined;
      const peer = peers.get(String(body.call_id));
      if (peer && session?.sdp && (body.action === 'accept' || body.action === 'pre_accept')) {
        await peer.answer(session.sdp);
      } else if (body.action === 'terminate') {
        await hangUp(String(body.call_id));
      }
      return GRAPH_OK;
    }
  }
}

serveControl(handle);
