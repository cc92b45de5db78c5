// What a simulated user says: "tone:440", "echo", "silence", "speech-sample", a data: URL or an https URL of a WAV.
import { MEDIA_SAMPLE_RATE } from '../../media/audio/pcm.ts';
import { resampleInTurns } from '../../media/audio/resampler.ts';
import { SpeechSynth } from '../../media/audio/speech.ts';
import { readWav, WavFormatError } from '../../media/audio/wav.ts';
import { EchoSource, type PcmSource, pcmSource, silenceSource, toneSource } from '../../media/rtc/sources.ts';
import {
  ADDRESS_REFUSED_CODE,
  checkWebhookUrlSyntax,
  type HostLookup,
  pinnedLookup,
  refusalReason,
} from '../../webhooks/url-guard.ts';

// As in meta/client.ts: the CommonJS objects, so that start-up does not load Node's bundled undici.
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

const MAX_WAV_BYTES = 5 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 10_000;

export type AudioSpec =
  | { kind: 'tone'; frequencyHz: number }
  | { kind: 'echo' }
  | { kind: 'silence' }
  | { kind: 'speech-sample' }
  | { kind: 'wav-data'; wav: Buffer }
  | { kind: 'wav-url'; url: URL };

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Checks the words only; a URL is fetched later, by `loadAudio`. */
export function parseAudioSpec(spec: string, allowInsecureUrls = false): Parsed<AudioSpec> {
  const tone = /^tone:(\d{1,6})$/.exec(spec);
  if (tone) {
    const frequencyHz = Number(tone[1]);
    return frequencyHz >= 50 && frequencyHz <= 4000
      ? { ok: true, value: { kind: 'tone', frequencyHz } }
      : { ok: false, reason: 'a tone is between 50 and 4000 Hz (tone:440)' };
  }
  if (spec === 'echo' || spec === 'silence' || spec === 'speech-sample') {
    return { ok: true, value: { kind: spec } };
  }
  const data = /^data:audio\/(?:wav|wave|x-wav|vnd\.wave);base64,([A-Za-z0-9+/]+={0,2})$/.exec(spec);
  if (data) {
    const wav = Buffer.from(data[1] ?? '', 'base64');
    try {
      readWav(wav);
    } catch (error) {
      return { ok: false, reason: `the WAV cannot be read: ${(error as Error).message}` };
    }
    return { ok: true, value: { kind: 'wav-data', wav } };
  }
  if (/^https?:\/\//.test(spec)) {
    const checked = checkWebhookUrlSyntax(spec, allowInsecureUrls);
    return checked.ok
      ? { ok: true, value: { kind: 'wav-url', url: checked.url } }
      : { ok: false, reason: `audio URL refused: ${refusalReason(checked)}` };
  }
  return {
    ok: false,
    reason: 'audio is tone:<Hz>, echo, silence, speech-sample, a data:audio/wav;base64 URL or an https URL of a WAV',
  };
}

/** The source for a spec; WAVs play in a loop so a long call keeps talking. `lookup`: DNS, injectable for tests. */
export async function loadAudio(
  spec: AudioSpec,
  allowInsecureUrls = false,
  lookup?: HostLookup,
): Promise<Parsed<PcmSource>> {
  switch (spec.kind) {
    case 'tone':
      return { ok: true, value: toneSource(spec.frequencyHz) };
    case 'echo':
      return { ok: true, value: new EchoSource() };
    case 'silence':
      return { ok: true, value: silenceSource };
    case 'speech-sample': {
      const voice = new SpeechSynth();
      return { ok: true, value: { read: (n) => voice.next(n) } };
    }
    case 'wav-data':
      return fromWav(spec.wav);
    case 'wav-url': {
      const fetched = await fetchWav(spec.url, allowInsecureUrls, lookup);
      return fetched.ok ? fromWav(fetched.value) : fetched;
    }
  }
}

/**
 * A simulated caller's WAV is converted to 48 kHz once and kept for the call: bounded, or a small file at a very low
 * rate (a 5 MB WAV at 1 kHz is 80 minutes) took seconds of CPU and hundreds of MB.
 */
const MAX_WAV_SECONDS = 120;
const MIN_WAV_RATE = 8000;

async function fromWav(wav: Buffer): Promise<Parsed<PcmSource>> {
  let parsed: ReturnType<typeof readWav>;
  try {
    parsed = readWav(wav);
  } catch (error) {
    const reason = error instanceof WavFormatError ? error.message : 'unreadable WAV';
    return { ok: false, reason: `the WAV cannot be read: ${reason}` };
  }
  const { samples, sampleRate } = parsed;
  if (sampleRate < MIN_WAV_RATE) {
    return { ok: false, reason: `the WAV is sampled at ${sampleRate} Hz: at least ${MIN_WAV_RATE} Hz` };
  }
  // A header whose data was cut off: looped, it would be a caller who never says anything, with no word why.
  if (samples.length === 0) {
    return { ok: false, reason: 'the WAV holds no audio (its data is empty or cut off)' };
  }
  if (samples.length / sampleRate > MAX_WAV_SECONDS) {
    return {
      ok: false,
      reason: `the WAV lasts ${Math.round(samples.length / sampleRate)} s: at most ${MAX_WAV_SECONDS} s (it loops)`,
    };
  }
  // A slice at a time, the event loop let run between: this thread paces every call's frames (2 s of CPU at 9973 Hz).
  const audio = await resampleInTurns(samples, sampleRate, MEDIA_SAMPLE_RATE);
  return { ok: true, value: pcmSource(audio, MEDIA_SAMPLE_RATE, { loop: true }) };
}

/** Fetched like a webhook is sent: public addresses only (checked when connecting), bounded size and time. */
function fetchWav(url: URL, allowInsecure: boolean, lookup?: HostLookup): Promise<Parsed<Buffer>> {
  return new Promise((resolve) => {
    const done = (result: Parsed<Buffer>) => {
      clearTimeout(timer);
      resolve(result);
    };
    const secure = url.protocol === 'https:';
    const request = secure ? https.request : http.request;
    // An agent of its own: Node's global one sends the request to a proxy from the environment (NODE_USE_ENV_PROXY),
    // which resolves the name itself, out of the pinned lookup's sight.
    const agent = secure ? new https.Agent() : new http.Agent();
    const req = request(url, { method: 'GET', agent, lookup: pinnedLookup(allowInsecure, lookup) }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        done({ ok: false, reason: `the audio URL answered HTTP ${res.statusCode}` });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_WAV_BYTES) {
          req.destroy();
          done({ ok: false, reason: `the WAV is larger than ${MAX_WAV_BYTES} bytes` });
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => done({ ok: true, value: Buffer.concat(chunks) }));
      res.on('error', () => done({ ok: false, reason: 'the audio download failed' }));
    });
    const timer = setTimeout(() => {
      req.destroy();
      done({ ok: false, reason: 'the audio download timed out' });
    }, FETCH_TIMEOUT_MS);
    // As for webhooks and play: a private answer reads like no answer, and the reason never names an address
    // (error.message would), or the API would map internal DNS.
    req.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? '';
      done({
        ok: false,
        reason:
          code === ADDRESS_REFUSED_CODE || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? "the audio URL's host does not resolve to a public address"
            : `the audio download failed${code ? `: ${code}` : ''}`,
      });
    });
    req.end();
  });
}
