import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runBehindEnvProxy } from '../../../test/helpers/env-proxy.ts';
import { turnsDuring } from '../../../test/helpers/event-loop.ts';
import { dominantFrequency } from '../../media/audio/detect.ts';
import { FRAME_SAMPLES, rmsLevel } from '../../media/audio/pcm.ts';
import { tone } from '../../media/audio/tone.ts';
import { writeWav } from '../../media/audio/wav.ts';
import type { NumberRecord } from '../../model/number.ts';
import { loadAudio, parseAudioSpec } from './audio.ts';
import { callingSettingsOf, permissionOf, permissionsPatch, sandboxSettingsOf } from './settings.ts';

async function firstSecond(spec: string): Promise<Int16Array> {
  const parsed = parseAudioSpec(spec);
  assert.ok(parsed.ok, spec);
  const source = await loadAudio(parsed.value);
  assert.ok(source.ok, spec);
  const out = new Int16Array(50 * FRAME_SAMPLES);
  for (let i = 0; i < 50; i++) {
    out.set(source.value.read(FRAME_SAMPLES) ?? new Int16Array(FRAME_SAMPLES), i * FRAME_SAMPLES);
  }
  return out;
}

describe('what a simulated user says', () => {
  it('plays tones, a WAV from a data: URL (looped) and silence', async () => {
    assert.equal(dominantFrequency(await firstSecond('tone:440'), 48_000), 440);
    const wav = writeWav({ sampleRate: 8_000, samples: tone(700, 0.3, 8_000) }).toString('base64');
    const fromWav = await firstSecond(`data:audio/wav;base64,${wav}`);
    assert.equal(dominantFrequency(fromWav.subarray(0, 14_400), 48_000), 700);
    assert.equal(dominantFrequency(fromWav.subarray(28_800), 48_000), 700, 'the WAV starts over');
    assert.equal(rmsLevel(await firstSecond('silence')), 0);
  });

  it('speech-sample sounds like talking: syllables and pauses, not one steady tone', async () => {
    const speech = await firstSecond('speech-sample');
    const levels = Array.from({ length: 50 }, (_, i) =>
      rmsLevel(speech.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)),
    );
    assert.ok(Math.max(...levels) > 0.05, 'audible');
    assert.ok(Math.min(...levels) < Math.max(...levels) / 4, 'the level rises and falls');
  });

  it('refuses what it cannot play, with the reason', () => {
    const reasons = [
      'tone:5',
      'tone:9000',
      'flute',
      'data:audio/wav;base64,AAAA',
      'ftp://x/y.wav',
      'http://x/y.wav',
    ].map((spec) => {
      const parsed = parseAudioSpec(spec);
      return parsed.ok ? null : parsed.reason;
    });
    assert.ok(
      reasons.every((r) => typeof r === 'string' && r.length > 0),
      JSON.stringify(reasons),
    );
    assert.match(reasons[0] ?? '', /between 50 and 4000 Hz/);
    assert.match(reasons[3] ?? '', /WAV cannot be read/);
    assert.equal(parseAudioSpec('http://example.com/a.wav', true).ok, true, 'plain http only when allowed');
  });

  it('refuses a WAV too long or sampled too slowly to convert for a call (it would stall the process), or empty', async () => {
    const load = async (sampleRate: number, seconds: number) => {
      const wav = writeWav({ sampleRate, samples: new Int16Array(Math.round(sampleRate * seconds)) });
      const spec = parseAudioSpec(`data:audio/wav;base64,${wav.toString('base64')}`, false);
      assert.ok(spec.ok);
      return loadAudio(spec.value, false);
    };
    const slow = await load(1000, 10);
    assert.equal(slow.ok, false);
    assert.match(slow.ok ? '' : slow.reason, /1000 Hz: at least 8000 Hz/);
    const long = await load(8000, 121);
    assert.equal(long.ok, false);
    assert.match(long.ok ? '' : long.reason, /lasts 121 s: at most 120 s/);
    assert.equal((await load(8000, 120)).ok, true);
    const empty = await load(8000, 0);
    assert.equal(empty.ok, false, 'a WAV cut off after its header');
    assert.match(empty.ok ? '' : empty.reason, /holds no audio/);
  });

  it('converts a long WAV with the event loop let run meanwhile: the calls’ frame clocks are not stalled', async () => {
    const wav = writeWav({ sampleRate: 9973, samples: tone(700, 20, 9973) });
    const spec = parseAudioSpec(`data:audio/wav;base64,${wav.toString('base64')}`);
    assert.ok(spec.ok);
    const { result: source, turns } = await turnsDuring(() => loadAudio(spec.value));
    assert.ok(source.ok);
    assert.ok(turns >= 10, `the event loop turned ${turns} times while it was converted`);
    const first = source.value.read(48_000) ?? new Int16Array(0);
    assert.equal(dominantFrequency(first.subarray(4800), 48_000), 700);
  });

  it('a WAV URL whose name is private reads like one that does not resolve, and names no address', async () => {
    const lookup = async (host: string) => {
      if (host === 'private.example.com') {
        return [{ address: '10.1.2.3', family: 4 }];
      }
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host });
    };
    const reasonFor = async (host: string) => {
      const spec = parseAudioSpec(`https://${host}/a.wav`);
      assert.ok(spec.ok);
      const loaded = await loadAudio(spec.value, false, lookup);
      assert.equal(loaded.ok, false);
      return loaded.ok ? '' : loaded.reason;
    };
    const privateName = await reasonFor('private.example.com');
    assert.equal(privateName, await reasonFor('unknown.example.com'));
    assert.ok(!privateName.includes('10.1.2.3'), privateName);
  });

  it('a proxy in the environment (NODE_USE_ENV_PROXY, HTTPS_PROXY) never takes a WAV download past the guard', async () => {
    // Through Node's global agent the proxy would resolve the name itself, out of the pinned lookup's sight.
    const run = await runBehindEnvProxy(`
      import { loadAudio, parseAudioSpec } from ${JSON.stringify(join(import.meta.dirname, 'audio.ts'))};
      const spec = parseAudioSpec('https://wav.internal.example/a.wav');
      const loaded = await loadAudio(spec.value, false, async () => [{ address: '10.1.2.3', family: 4 }]);
      console.log(loaded.ok ? 'loaded' : loaded.reason);
    `);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.proxied, [], 'nothing went to the proxy');
    assert.equal(run.stdout.trim(), "the audio URL's host does not resolve to a public address");
  });
});

describe('sandbox settings', () => {
  const number = (publicConfig: Record<string, unknown>) => ({ publicConfig }) as unknown as NumberRecord;

  it('fills in the defaults and keeps what the number set', () => {
    assert.deepEqual(sandboxSettingsOf(number({})), {
      answer: 'accept',
      answerAfterSeconds: 2,
      audio: 'echo',
      hangupAfterSeconds: null,
      permissionReply: 'accept',
    });
    assert.equal(sandboxSettingsOf(number({ sandbox: { answer: 'ignore' } })).answer, 'ignore');
    const calling = callingSettingsOf(number({ calling: { status: 'DISABLED' } })).calling as Record<string, unknown>;
    assert.equal(calling.status, 'DISABLED');
    assert.equal(calling.call_icon_visibility, 'DEFAULT');
  });

  it('a temporary permission lapses at its expiration time; a permanent one does not', () => {
    const now = Date.UTC(2026, 0, 1);
    const granted = number(
      permissionsPatch(number({}), '15550001', { status: 'temporary', expirationTime: now / 1000 + 60 }),
    );
    assert.equal(permissionOf(granted, '15550001', now)?.status, 'temporary');
    assert.equal(permissionOf(granted, '15550001', now + 61_000), null);
    assert.equal(permissionOf(granted, '15550002', now), null);
    const permanent = number(permissionsPatch(granted, '15550002', { status: 'permanent', expirationTime: null }));
    assert.equal(permissionOf(permanent, '15550002', now + 1e12)?.status, 'permanent');
    assert.equal(permissionOf(number(permissionsPatch(permanent, '15550002', null)), '15550002', now), null);
  });
});
