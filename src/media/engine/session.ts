// One call's server media: callgate itself is the business end of the WebRTC call. Four small stages:
//   negotiate — answer the peer's SDP offer (or make one for an outbound call and apply its answer);
//   connect   — wait for ICE/DTLS; failure, or no audio from the peer for `mediaTimeoutMs`, fails the media;
//   pump      — every 20 ms the endpoint pulls one frame: queued `play` media mixed with realtime talk;
//               the caller's decoded frames go to realtime listeners;
//   record    — both directions into a stereo Ogg/Opus file, when asked.
// The session never touches the call record: it reports `failed(reason)` and is closed by its owner.

import { FRAME_MS, MEDIA_SAMPLE_RATE } from '../audio/pcm.ts';
import type { AudioEndpoint, DtmfDigit, OpusRate, PcmSource } from '../rtc/index.ts';
import { AudioQueue } from './audio-queue.ts';
import type { CallRecorder, RecordingResult } from './call-recorder.ts';
import { EndSignal } from './end-signal.ts';
import type { EngineSession, MediaEndReason, PlayOptions } from './engine-session.ts';
import { PlayQueue } from './play-queue.ts';

export type { MediaEndReason } from './engine-session.ts';

export interface MediaSessionOptions {
  callId: string;
  numberId: string;
  endpoint: AudioEndpoint;
  recorder?: CallRecorder | null;
  /** No audio from the peer for this long (or no connection at all) fails the media. */
  mediaTimeoutMs?: number;
  /** Told once when the media fails on its own (ICE/DTLS failure, silence from the peer). */
  onFailure?: (reason: 'media_timeout') => void;
  /** Told once: ms from the SDP exchange to the peer's first audio packet. */
  onFirstAudio?: (ms: number) => void;
}

function mix(a: Int16Array | null, b: Int16Array | null): Int16Array | null {
  if (!a || !b) {
    return a ?? b;
  }
  const out = new Int16Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = (a[i] ?? 0) + (b[i] ?? 0);
    out[i] = Math.min(32767, Math.max(-32768, v));
  }
  return out;
}

export class MediaSession implements EngineSession {
  readonly callId: string;
  readonly numberId: string;
  readonly talk = new AudioQueue();
  readonly play = new PlayQueue();
  private readonly endpoint: AudioEndpoint;
  private readonly recorder: CallRecorder | null;
  private readonly mediaTimeoutMs: number;
  private readonly onFailure: ((reason: 'media_timeout') => void) | undefined;
  private readonly onFirstAudio: ((ms: number) => void) | undefined;
  private readonly audioListeners = new Map<(frame: Int16Array, rate: OpusRate, missed: number) => void, OpusRate>();
  private readonly end = new EndSignal();
  private watchdog: NodeJS.Timeout | null = null;
  private lastPeerAudioAt = 0;
  /** When the SDP exchange completed (ms since epoch), or null before it. */
  private connectStartedAt: number | null = null;
  private closing: Promise<RecordingResult | null> | null = null;
  /** Unsubscribes from the caller's decoded audio; set only while a recording or a realtime listener needs it. */
  private decoding: (() => void) | null = null;
  /** The rate `decoding` asked the endpoint for: 48 kHz for a recording, else the highest a listener wants. */
  private decodingRate = 0;
  /** A play was queued once: the call's audio goes out at 48 kHz from then on. */
  private played = false;
  /** Time of the first frame from the peer (ms since epoch), for accept → first-audio figures. */
  firstPeerAudioAt: number | null = null;

  constructor(options: MediaSessionOptions) {
    this.callId = options.callId;
    this.numberId = options.numberId;
    this.endpoint = options.endpoint;
    this.recorder = options.recorder ?? null;
    this.mediaTimeoutMs = options.mediaTimeoutMs ?? 30_000;
    this.onFailure = options.onFailure;
    this.onFirstAudio = options.onFirstAudio;
    // Barge-in is decided here, beside the queue: a key stops its prompt within the frame, wherever the session runs.
    this.endpoint.onDigit(() => this.play.keyPressed());
    this.pump();
  }

  /** Where this call is being recorded, if it is. */
  get recordingPath(): string | null {
    return this.recorder?.path ?? null;
  }

  get ended(): boolean {
    return this.closing !== null;
  }

  // negotiate

  /** Inbound: the answer to the peer's offer; ICE starts at once. */
  async answer(offerSdp: string): Promise<string> {
    const sdp = await this.endpoint.acceptOffer(offerSdp);
    this.connect();
    return sdp;
  }

  /** Outbound: an offer for the provider to carry to the peer (the media clock starts with its answer). */
  offer(): Promise<string> {
    return this.endpoint.createOffer();
  }

  /** The peer answered (it may ring for a long time first, so the media timeout counts from here). */
  async applyAnswer(answerSdp: string): Promise<void> {
    await this.endpoint.applyAnswer(answerSdp);
    this.connect();
  }

  // connect

  private connect(): void {
    if (this.closing) {
      return; // closed while the SDP was being made: no watchdog for a session that is gone
    }
    this.lastPeerAudioAt = Date.now();
    this.connectStartedAt = this.lastPeerAudioAt;
    this.endpoint.onState((state) => {
      if (state === 'failed') {
        this.fail();
      }
    });
    // Checked once a second: a fresh connection gets the full timeout to deliver its first audio.
    this.watchdog = setInterval(
      () => {
        if (Date.now() - this.lastPeerAudioAt >= this.mediaTimeoutMs) {
          this.fail();
        }
      },
      Math.min(1000, this.mediaTimeoutMs),
    );
    this.watchdog.unref();
  }

  private fail(): void {
    if (this.closing) {
      return;
    }
    this.onFailure?.('media_timeout');
    // The owner closes it too and gets the recording's outcome (or its error) from that same promise.
    this.close('media_timeout').catch(() => undefined);
  }

  // pump

  private pump(): void {
    const source: PcmSource = {
      frameRate: () => this.outputRate(),
      read: (samples) => {
        const rate = ((samples * 1000) / FRAME_MS) as OpusRate;
        const frame = mix(this.played ? this.play.pull() : null, this.talk.pull(rate));
        this.recorder?.tick(frame);
        return frame;
      },
      // The recording is the call's length: a stall's skipped frames are recorded (the business silent), not left out.
      skipped: (frames) => this.recorder?.skip(frames),
    };
    this.endpoint.setSource(source);
    // Arrival alone keeps the media alive; decoding is paid only for someone who uses the audio.
    this.endpoint.onPacket(() => {
      this.lastPeerAudioAt = Date.now();
      // Counted from the SDP exchange: a packet before it (early media on an outbound call) does not count.
      if (this.firstPeerAudioAt === null && this.connectStartedAt !== null) {
        this.firstPeerAudioAt = this.lastPeerAudioAt;
        this.onFirstAudio?.(this.firstPeerAudioAt - this.connectStartedAt);
      }
    });
    this.updateDecoding();
  }

  private updateDecoding(): void {
    let rate = this.recorder ? MEDIA_SAMPLE_RATE : 0;
    for (const wanted of this.audioListeners.values()) {
      rate = Math.max(rate, wanted);
    }
    if (rate === this.decodingRate) {
      return;
    }
    this.decodingRate = rate;
    if (rate === 0) {
      this.decoding?.();
      this.decoding = null;
      return;
    }
    // The same listener again changes its rate in place: a new one added while the endpoint hands out a frame (a
    // listener leaving from its callback) would be handed that frame too, and every listener would get it twice.
    this.decoding = this.endpoint.onAudio(this.hearCaller, rate as OpusRate);
  }

  private readonly hearCaller = (frame: Int16Array, frameRate: OpusRate, missed: number): void => {
    // The recording keeps time by the frame clock (a gap is silence there already); listeners by the caller's.
    this.recorder?.hearCaller(frame);
    for (const listener of this.audioListeners.keys()) {
      listener(frame, frameRate, missed);
    }
  };

  /**
   * The rate the call's frames go out at. While realtime clients are all that ever sounded, theirs (8 kHz for the
   * Twilio framing): their audio is then neither resampled to 48 kHz nor encoded at it, about half the cost of
   * every frame they send. A play or a recording (both 48 kHz) lifts it to 48 kHz for the rest of the call, so the
   * encoder changes at most twice.
   */
  private outputRate(): OpusRate {
    if (this.recorder || this.played) {
      return MEDIA_SAMPLE_RATE;
    }
    return this.talk.inputRate ?? MEDIA_SAMPLE_RATE;
  }

  /** Queues decoded media (48 kHz mono) behind what is already playing. */
  enqueuePlay(load: Promise<Int16Array>, options: PlayOptions = {}): void {
    this.played = true;
    this.play.enqueue(load, options.stopOnKey === true);
  }

  stopPlay(): void {
    this.play.stop();
  }

  // RealtimeTarget

  onCallerAudio(
    listener: (frame: Int16Array, rate: OpusRate, missed: number) => void,
    rate: OpusRate = MEDIA_SAMPLE_RATE,
  ): () => void {
    this.audioListeners.set(listener, rate);
    this.updateDecoding();
    return () => {
      this.audioListeners.delete(listener);
      this.updateDecoding();
    };
  }

  onDigit(listener: (digit: DtmfDigit) => void): () => void {
    return this.endpoint.onDigit(listener);
  }

  onEnded(listener: (reason: string) => void): () => void {
    return this.end.listen(listener);
  }

  // end

  /** Stops the media, tells every socket (stop + 1000), finishes the recording. Idempotent. */
  close(reason: MediaEndReason): Promise<RecordingResult | null> {
    this.closing ??= (async () => {
      if (this.watchdog) {
        clearInterval(this.watchdog);
      }
      this.end.fire(reason);
      this.audioListeners.clear();
      this.play.stop();
      this.talk.clear();
      await this.endpoint.close();
      return this.recorder ? this.recorder.finish() : null;
    })();
    return this.closing;
  }
}
