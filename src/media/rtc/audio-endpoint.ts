// One side of a WebRTC audio call: a werift peer with one Opus track that sends paced PCM and hands out what it hears.
import { randomInt } from 'node:crypto';
import { MediaStreamTrack, type RTCPeerConnection, type RTCRtpSender, RtpHeader, RtpPacket } from 'werift';
import { AudioMonitor, type Heard } from '../audio/monitor.ts';
import { FRAME_MS, FRAME_SAMPLES, MEDIA_SAMPLE_RATE, silence } from '../audio/pcm.ts';
import { DtmfDetector, type DtmfDigit, DtmfSender, type DtmfTiming, serializeTelephoneEvent } from './dtmf.ts';
import { type FrameClock, realtimeFrameClock } from './frame-clock.ts';
import { OpusCodec, type OpusRate } from './opus.ts';
import type { PeerFactory } from './peer-factory.ts';
import { type PcmSource, silenceSource } from './sources.ts';

let silentPacket: Buffer | null = null;

/**
 * What the encoder makes of 20 ms of digital silence (a CELT silence frame: three bytes), made once per process by
 * a codec of its own. Sent in place of encoding silence, which costs about half of encoding speech: a call where
 * nothing plays and nobody talks pays no Opus encoding at all.
 */
function silentOpusPacket(): Buffer {
  if (!silentPacket) {
    const codec = new OpusCodec();
    silentPacket = codec.encode(silence());
    codec.close();
  }
  return silentPacket;
}

/**
 * The first silent frames after audio are encoded for real: they carry the end of the last sound (the codec's
 * overlap) and leave the encoder where the far end's decoder is. Measured against encoding every silent frame, the
 * audio after a silence then decodes within 30–80 dB of it from its first frame (an encoder reset instead: 0–8 dB
 * for the first four frames).
 */
const SILENCE_ENCODED = 2;

/**
 * Bit rates of the encoders below 48 kHz (48 kHz keeps libopus's own, ~47 kbit/s). libopus's own at 8 kHz is
 * ~11 kbit/s, where telephone speech decoded 10 dB further from its source than through the 48 kHz encoder; these
 * decode as close to it as the 48 kHz encoder did (measured on synthetic speech), in fewer bits.
 */
const LOW_RATE_BITRATES: Record<number, number> = { 8000: 32_000, 12000: 36_000, 16000: 40_000, 24000: 44_000 };

/** How many frames a new encoder taking over at another rate codes without prediction (see encodeIndependently). */
const INDEPENDENT_FRAMES_AT_SWITCH = 3;

/**
 * The longest gap in the far end's RTP clock (lost packets, or a sender that skipped frames) told to listeners as
 * frames missed; a longer jump is a new start of its clock, not time to account for.
 */
const MAX_MISSED_FRAMES = 250;

/** How long close() waits for werift to shut its transports before returning anyway. */
const CLOSE_WAIT_MS = 2000;

export type EndpointState = 'new' | 'connecting' | 'connected' | 'failed' | 'closed';

export interface AudioEndpointOptions {
  source?: PcmSource;
  clock?: FrameClock;
  /** How long ICE gathering may take before the SDP is returned with what was found. */
  gatherTimeoutMs?: number;
  /**
   * Keep the last half second heard for heard() (the default). Off, the far end's packets are decoded only while an
   * onAudio listener or an echoing source wants them: nobody listening costs no Opus decoding.
   */
  monitor?: boolean;
}

export class AudioEndpoint {
  readonly #pc: RTCPeerConnection;
  readonly #track = new MediaStreamTrack({ kind: 'audio' });
  /** Decodes at 48 kHz, and encodes while the source's frames are 48 kHz. */
  readonly #opus = new OpusCodec();
  /** The encoder for the source's current frame rate: #opus at 48 kHz, else one of its own. */
  #encoder: OpusCodec = this.#opus;
  readonly #clock: FrameClock;
  readonly #gatherTimeoutMs: number;
  readonly #monitor: AudioMonitor | null;
  /** Each listener with the rate it wants; the far end is decoded once, at the highest of them. */
  readonly #listeners = new Map<(pcm: Int16Array, rate: OpusRate, missed: number) => void, OpusRate>();
  /** Decodes at a rate under 48 kHz when every listener wants less (the encoder stays at 48 kHz); else null. */
  #decoder: OpusCodec | null = null;
  readonly #packetListeners = new Set<() => void>();
  readonly #stateListeners = new Set<(state: EndpointState) => void>();
  #source: PcmSource;
  #state: EndpointState = 'new';
  #stopPacing: (() => void) | null = null;
  #muted = false;
  // Random starting points, as RFC 3550 asks, so streams from restarted endpoints never look continuous.
  readonly #sequenceBase = randomInt(0, 0x10000);
  readonly #timestampBase = randomInt(0, 0x100000000);
  #framesSent = 0;
  /** The index of the last frame sent (-1 before the first): a jump past it is frames the clock skipped. */
  #lastFrameIndex = -1;
  #framesEncoded = 0;
  /** Silent frames in a row; past SILENCE_ENCODED of them the ready-made packet goes instead of the encoder's. */
  #silentFrames = 0;
  #packetsReceived = 0;
  /** The far end's RTP timestamp its next packet should carry (after the last one decoded), or null. */
  #nextTimestamp: number | null = null;
  #framesDecoded = 0;
  /** The negotiated payload types: Opus (what audio is sent as) and telephone-event (null when not negotiated). */
  #audioPayloadType = 111;
  #dtmfPayloadType: number | null = null;
  #dtmfClockRate = 8000;
  /** The RTP timestamp of the first packet of the digit being sent. */
  #dtmfTimestamp = 0;
  readonly #dtmfIn = new DtmfDetector();
  readonly #dtmfOut = new DtmfSender();
  readonly #digitListeners = new Set<(digit: DtmfDigit) => void>();
  /** Digits go to the sender itself: the track would send them as Opus (werift is patched to keep their type). */
  #sender: RTCRtpSender | null = null;

  constructor(factory: PeerFactory, options: AudioEndpointOptions = {}) {
    this.#pc = factory.create();
    this.#source = options.source ?? silenceSource;
    this.#clock = options.clock ?? realtimeFrameClock;
    this.#gatherTimeoutMs = options.gatherTimeoutMs ?? 5000;
    this.#monitor = options.monitor === false ? null : new AudioMonitor();
    this.#pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => this.#receive(rtp.payload, rtp.header.timestamp, rtp.header.payloadType));
    });
    this.#pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') {
        this.#setState('connected');
        this.#startPacing();
      } else if (state === 'failed' || state === 'closed') {
        this.#setState(state);
        this.#stopPacing?.();
      } else if (state === 'connecting' && this.#state === 'new') {
        this.#setState('connecting');
      }
    });
  }

  get state(): EndpointState {
    return this.#state;
  }

  /** Makes an SDP offer (all candidates gathered) for the far end to answer. */
  async createOffer(): Promise<string> {
    this.#pc.addTransceiver(this.#track, { direction: 'sendrecv' });
    await this.#pc.setLocalDescription(await this.#pc.createOffer());
    return this.#localSdp();
  }

  /** Answers the far end's SDP offer; connecting starts at once. */
  async acceptOffer(offerSdp: string): Promise<string> {
    await this.#pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    const transceiver = this.#pc.getTransceivers().find((t) => t.kind === 'audio');
    if (!transceiver) {
      throw new Error('the offer has no audio');
    }
    transceiver.setDirection('sendrecv');
    await transceiver.sender.replaceTrack(this.#track);
    await this.#pc.setLocalDescription(await this.#pc.createAnswer());
    this.#learnPayloadTypes();
    return this.#localSdp();
  }

  /** Applies the far end's answer to an offer this endpoint made. */
  async applyAnswer(answerSdp: string): Promise<void> {
    await this.#pc.setRemoteDescription({ type: 'answer', sdp: answerSdp });
    this.#learnPayloadTypes();
  }

  /** Whether the far end takes keypad digits (telephone-event was negotiated). */
  get dtmf(): boolean {
    return this.#dtmfPayloadType !== null;
  }

  /**
   * Sends keypad digits to the far end, one after another (100 ms each, 60 ms apart, unless a test's `timing` says
   * otherwise), in place of audio while each sounds. False, and nothing sent, when the far end did not negotiate
   * telephone-event.
   */
  sendDigits(digits: string, timing?: DtmfTiming): boolean {
    if (this.#dtmfPayloadType === null) {
      return false;
    }
    this.#dtmfOut.enqueue(digits, timing);
    return true;
  }

  /** Digits still to be sent (sendDigits). */
  get digitsPending(): number {
    return this.#dtmfOut.pending;
  }

  /** Every keypad digit the far end presses, once each. */
  onDigit(listener: (digit: DtmfDigit) => void): () => void {
    this.#digitListeners.add(listener);
    return () => this.#digitListeners.delete(listener);
  }

  /** Resolves once media can flow; rejects if the connection fails or closes first. */
  connected(timeoutMs = 10_000): Promise<void> {
    if (this.#state === 'connected') {
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`not connected after ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onState((state) => {
        if (state === 'connected') {
          clearTimeout(timer);
          off();
          resolve();
        } else if (state === 'failed' || state === 'closed') {
          clearTimeout(timer);
          off();
          reject(new Error(`connection ${state}`));
        }
      });
    });
  }

  setSource(source: PcmSource): void {
    this.#source = source;
    this.#pickDecoder();
  }

  /** Muted, the endpoint keeps its RTP clock running and sends silence. */
  setMuted(muted: boolean): void {
    this.#muted = muted;
  }

  /**
   * Every decoded mono frame from the far end, at `rate` or higher (the highest rate any listener asked for; the
   * frame's own rate comes with it). A listener that only needs 8 kHz saves the 48 kHz decode and the resampling.
   * The same listener again only changes its rate (it keeps its place: not handed the current frame twice).
   * `missed` counts the 20 ms frames the far end's RTP clock passed since the last frame without a packet heard
   * (lost, or late: a packet from before the last one heard is dropped), for listeners that keep the far end's time.
   */
  onAudio(
    listener: (pcm: Int16Array, rate: OpusRate, missed: number) => void,
    rate: OpusRate = MEDIA_SAMPLE_RATE,
  ): () => void {
    this.#listeners.set(listener, rate);
    this.#pickDecoder();
    return () => {
      this.#listeners.delete(listener);
      this.#pickDecoder();
    };
  }

  /** Every audio packet from the far end as it arrives, decoded or not. */
  onPacket(listener: () => void): () => void {
    this.#packetListeners.add(listener);
    return () => this.#packetListeners.delete(listener);
  }

  onState(listener: (state: EndpointState) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /** What the far end sounds like over the last half second. */
  heard(): Heard {
    return this.#monitor?.heard() ?? { frequencyHz: null, level: 0, totalSamples: 0 };
  }

  /** Packets decoded to PCM so far (fewer than received while nobody listens to an endpoint without a monitor). */
  get framesDecoded(): number {
    return this.#framesDecoded;
  }

  /** Frames sent, of which encoded (the others were silence, sent ready-made), the rate of the last encoded, and packets received. */
  stats(): { framesSent: number; framesEncoded: number; encoderRate: OpusRate; packetsReceived: number } {
    return {
      framesSent: this.#framesSent,
      framesEncoded: this.#framesEncoded,
      encoderRate: this.#encoder.sampleRate,
      packetsReceived: this.#packetsReceived,
    };
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') {
      return;
    }
    this.#stopPacing?.();
    this.#setState('closed');
    this.#opus.close();
    if (this.#encoder !== this.#opus) {
      this.#encoder.close();
    }
    this.#decoder?.close();
    // A peer stuck mid-handshake must not hold up whoever hangs up: the sockets close in the background.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#pc.close().catch(() => undefined),
      new Promise((resolve) => {
        timer = setTimeout(resolve, CLOSE_WAIT_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  #setState(state: EndpointState): void {
    if (this.#state === state || this.#state === 'closed') {
      return;
    }
    this.#state = state;
    for (const listener of this.#stateListeners) {
      listener(state);
    }
  }

  async #localSdp(): Promise<string> {
    if (this.#pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.#gatherTimeoutMs);
        const { unSubscribe } = this.#pc.iceGatheringStateChange.subscribe((state) => {
          if (state === 'complete') {
            done();
          }
        });
        function done() {
          clearTimeout(timer);
          unSubscribe();
          resolve();
        }
      });
    }
    const sdp = this.#pc.localDescription?.sdp;
    if (!sdp) {
      throw new Error('no local description');
    }
    return sdp;
  }

  /** 48 kHz (the encoder's codec) while the monitor or an echoing source hears the far end, else listeners' max. */
  #pickDecoder(): void {
    let rate = this.#monitor || this.#source.hear ? MEDIA_SAMPLE_RATE : 0;
    for (const wanted of this.#listeners.values()) {
      rate = Math.max(rate, wanted);
    }
    // Nobody decoding (rate 0) keeps the decoder as it is: nothing is decoded until someone listens again.
    if (rate === 0 || rate === (this.#decoder?.sampleRate ?? MEDIA_SAMPLE_RATE) || this.#state === 'closed') {
      return;
    }
    this.#decoder?.close();
    this.#decoder = rate === MEDIA_SAMPLE_RATE ? null : new OpusCodec({ sampleRate: rate as OpusRate });
  }

  /** The payload types the negotiation settled on: the far end's numbers for Opus and telephone-event. */
  #learnPayloadTypes(): void {
    const transceiver = this.#pc.getTransceivers().find((t) => t.kind === 'audio');
    const codecs = transceiver?.codecs ?? [];
    this.#sender = transceiver?.sender ?? null;
    const opus = codecs.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
    const dtmf = codecs.find((c) => c.mimeType.toLowerCase() === 'audio/telephone-event');
    this.#audioPayloadType = opus?.payloadType ?? this.#audioPayloadType;
    this.#dtmfPayloadType = dtmf?.payloadType ?? null;
    this.#dtmfClockRate = dtmf?.clockRate ?? 8000;
  }

  #startPacing(): void {
    if (this.#stopPacing) {
      return;
    }
    this.#stopPacing = this.#clock.start((frameIndex) => this.#sendFrame(frameIndex));
  }

  #sendFrame(frameIndex: number): void {
    if (frameIndex > this.#lastFrameIndex + 1) {
      this.#source.skipped?.(frameIndex - this.#lastFrameIndex - 1);
    }
    this.#lastFrameIndex = frameIndex;
    const rate = this.#source.frameRate?.() ?? MEDIA_SAMPLE_RATE;
    const frameSamples = (rate * FRAME_MS) / 1000;
    const read = this.#source.read(frameSamples);
    const digit = this.#dtmfPayloadType === null ? null : this.#dtmfOut.next();
    if (digit && this.#dtmfPayloadType !== null && this.#sender) {
      // The source's frame is read all the same: its audio keeps its time, unheard while the digit sounds.
      if (digit.first) {
        this.#dtmfTimestamp = (this.#timestampBase + frameIndex * FRAME_SAMPLES) % 0x100000000;
      }
      const header = new RtpHeader({
        payloadType: this.#dtmfPayloadType,
        sequenceNumber: (this.#sequenceBase + frameIndex) % 0x10000,
        // Every packet of an event carries its first frame's timestamp (the duration says how far it has gone), as
        // that frame was sent: frames the clock skipped since (a stall) must not move it, or the far end hears the
        // rest of the key as a second one.
        timestamp: this.#dtmfTimestamp,
        marker: digit.first,
      });
      const duration = (digit.toneFrames * this.#dtmfClockRate * FRAME_MS) / 1000;
      this.#sender
        .sendRtp(new RtpPacket(header, serializeTelephoneEvent(digit.digit, digit.end, duration)))
        .catch(() => {});
      this.#framesSent += 1;
      return;
    }
    const audible = !this.#muted && read !== null && read.length === frameSamples;
    this.#silentFrames = audible ? 0 : this.#silentFrames + 1;
    let payload: Buffer;
    if (this.#silentFrames > SILENCE_ENCODED) {
      payload = silentOpusPacket();
    } else {
      payload = this.#encoderAt(rate).encode(audible ? read : silence(frameSamples));
      this.#framesEncoded += 1;
    }
    const header = new RtpHeader({
      payloadType: this.#audioPayloadType,
      // The frame index, not a counter of packets sent, drives both clocks: a skipped stall shows as a gap.
      sequenceNumber: (this.#sequenceBase + frameIndex) % 0x10000,
      timestamp: (this.#timestampBase + frameIndex * FRAME_SAMPLES) % 0x100000000,
      marker: frameIndex === 0,
    });
    this.#track.writeRtp(new RtpPacket(header, payload));
    this.#framesSent += 1;
  }

  /** The encoder for frames at `rate`; a new one when the rate changes, starting without prediction. */
  #encoderAt(rate: OpusRate): OpusCodec {
    if (this.#encoder.sampleRate === rate) {
      return this.#encoder;
    }
    if (this.#encoder !== this.#opus) {
      this.#encoder.close();
    }
    this.#encoder =
      rate === MEDIA_SAMPLE_RATE ? this.#opus : new OpusCodec({ sampleRate: rate, bitrate: LOW_RATE_BITRATES[rate] });
    if (this.#framesEncoded > 0) {
      this.#encoder.encodeIndependently(INDEPENDENT_FRAMES_AT_SWITCH);
    }
    return this.#encoder;
  }

  #receive(payload: Buffer, timestamp: number, payloadType: number): void {
    if (this.#state === 'closed') {
      return;
    }
    this.#packetsReceived += 1;
    for (const listener of this.#packetListeners) {
      listener();
    }
    if (payloadType === this.#dtmfPayloadType) {
      const digit = this.#dtmfIn.push(payload, timestamp);
      if (digit) {
        for (const listener of this.#digitListeners) {
          listener(digit);
        }
      }
      return; // not audio: the time it took shows as frames missed when audio resumes
    }
    if (!this.#monitor && this.#listeners.size === 0 && !this.#source.hear) {
      this.#nextTimestamp = null;
      return;
    }
    let missed = 0;
    if (this.#nextTimestamp !== null) {
      const ahead = (timestamp - this.#nextTimestamp) | 0; // RTP timestamps wrap at 2^32
      if (ahead < 0 && ahead > -MAX_MISSED_FRAMES * FRAME_SAMPLES) {
        return; // late or repeated: its time has passed (counted as missed), and played now it would be out of order
      }
      missed = ahead > 0 && ahead <= MAX_MISSED_FRAMES * FRAME_SAMPLES ? Math.round(ahead / FRAME_SAMPLES) : 0;
    }
    const decoder = this.#decoder ?? this.#opus;
    const pcm = decoder.decode(payload);
    this.#framesDecoded += 1;
    if (pcm.length === 0) {
      this.#nextTimestamp = null;
      return;
    }
    this.#nextTimestamp = (timestamp + pcm.length * (MEDIA_SAMPLE_RATE / decoder.sampleRate)) >>> 0;
    this.#monitor?.push(pcm);
    this.#source.hear?.(pcm);
    for (const listener of this.#listeners.keys()) {
      listener(pcm, decoder.sampleRate, missed);
    }
  }
}
