import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OggOpusDecoder } from 'ogg-opus-decoder';
import { ToneGenerator } from '../audio/tone.ts';
import { ENGINE_FRAME } from './audio-queue.ts';
import { CallRecorder } from './call-recorder.ts';
import { OPUS_PRE_SKIP } from './opus-encoder.ts';

const dir = mkdtempSync(join(tmpdir(), 'callgate-recorder-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function record(recorder: CallRecorder, frames: number): void {
  const caller = new ToneGenerator(440);
  const business = new ToneGenerator(880);
  for (let i = 0; i < frames; i++) {
    recorder.hearCaller(caller.next(ENGINE_FRAME));
    recorder.tick(business.next(ENGINE_FRAME));
  }
}

describe('call recorder', () => {
  it('finishes with the size of the file it wrote', async () => {
    const path = join(dir, 'fresh.ogg');
    const recorder = new CallRecorder(path);
    record(recorder, 50);
    const result = await recorder.finish();
    assert.equal(result.durationSeconds, 1);
    assert.equal(result.sizeBytes, statSync(path).size);
    assert.equal(readFileSync(path).subarray(0, 4).toString(), 'OggS');
  });

  it('keeps frames skipped after a stall, in silence, as long as they lasted, without encoding a silent stretch', async () => {
    const path = join(dir, 'stall.ogg');
    const recorder = new CallRecorder(path);
    record(recorder, 50);
    recorder.tick(null);
    recorder.tick(null);
    recorder.tick(null);
    const encoder = (recorder as unknown as { encoder: { encode: (pcm: Int16Array) => Uint8Array } }).encoder;
    const encode = encoder.encode.bind(encoder);
    let encoded = 0;
    encoder.encode = (pcm) => {
      encoded++;
      return encode(pcm);
    };
    recorder.skip(1000); // 20 s the clock skipped, nobody sounding
    assert.equal(encoded, 0, 'a silent stall repeats the silence packet');
    record(recorder, 50);
    const result = await recorder.finish();
    assert.equal(result.durationSeconds, (50 + 3 + 1000 + 50) * 0.02);
    const decoder = new OggOpusDecoder();
    await decoder.ready;
    const audio = await decoder.decodeFile(readFileSync(path));
    decoder.free();
    assert.equal(audio.samplesDecoded, 1103 * ENGINE_FRAME - OPUS_PRE_SKIP);
    const level = (ch: number, from: number, to: number) => {
      const x = audio.channelData[ch]!.subarray(from * 48_000, to * 48_000);
      return Math.sqrt(x.reduce((sum, v) => sum + v * v, 0) / x.length);
    };
    assert.ok(level(0, 0.2, 0.9) > 0.2 && level(1, 0.2, 0.9) > 0.2, 'both sides sound before the stall');
    assert.ok(level(0, 2, 20) < 0.001 && level(1, 2, 20) < 0.001, 'silence for the stall');
    assert.ok(level(0, 21.3, 22) > 0.2 && level(1, 21.3, 22) > 0.2, 'both sides sound after it');
  });

  it('a burst of the caller’s packets (jitter, a stall) does not leave its channel behind the business’s for good', async () => {
    const path = join(dir, 'burst.ogg');
    const recorder = new CallRecorder(path);
    const encoder = (recorder as unknown as { encoder: { encode: (pcm: Int16Array) => Uint8Array } }).encoder;
    const encode = encoder.encode.bind(encoder);
    const lag: number[] = [];
    encoder.encode = (stereo) => {
      // Frame k of each side is filled with k: the left (caller) and right (business) say which frame they hold.
      lag.push((stereo[1] as number) - (stereo[0] as number));
      return encode(stereo);
    };
    const frame = (k: number) => new Int16Array(ENGINE_FRAME).fill(k);
    // 200 ms of the caller held up on the way arrive at once, then its packets come one a tick again.
    for (let k = 1; k <= 10; k++) {
      recorder.hearCaller(frame(k));
    }
    for (let k = 11; k <= 500; k++) {
      recorder.hearCaller(frame(k));
      recorder.tick(frame(k));
    }
    await recorder.finish();
    // The caller's frame k is recorded beside the business's frame k within 40 ms (jitter room) once settled.
    const settled = lag.slice(-100);
    assert.ok(
      settled.every((l) => Math.abs(l) <= 2),
      `the caller ${Math.max(...settled.map(Math.abs))} frames behind`,
    );
  });

  it('fails, rather than reporting a recording it never wrote, when its file cannot be created', async () => {
    const path = join(dir, 'taken.ogg');
    writeFileSync(path, 'someone else’s file');
    const recorder = new CallRecorder(path);
    record(recorder, 50);
    await assert.rejects(recorder.finish(), { code: 'EEXIST' });
    assert.equal(readFileSync(path, 'utf8'), 'someone else’s file');
  });

  it('fails with the error its file met, not with end() on a stream that error destroyed', async () => {
    const path = join(dir, 'taken-long-ago.ogg');
    writeFileSync(path, 'someone else’s file');
    const recorder = new CallRecorder(path);
    await sleep(50); // the open fails, the stream is destroyed; the call goes on
    record(recorder, 50);
    await assert.rejects(recorder.finish(), { code: 'EEXIST' });
  });

  it('stops encoding once its file has failed', async () => {
    const path = join(dir, 'taken-too.ogg');
    writeFileSync(path, 'someone else’s file');
    const recorder = new CallRecorder(path);
    const encoder = (recorder as unknown as { encoder: { encode: (pcm: Int16Array) => Uint8Array } }).encoder;
    const encode = encoder.encode.bind(encoder);
    let encoded = 0;
    encoder.encode = (pcm) => {
      encoded++;
      return encode(pcm);
    };
    await sleep(50); // the open fails
    record(recorder, 50);
    assert.equal(encoded, 0);
    await assert.rejects(recorder.finish(), { code: 'EEXIST' });
  });

  it('fails when its file is removed while it records (nothing would be there to serve)', async () => {
    const path = join(dir, 'removed.ogg');
    const recorder = new CallRecorder(path);
    record(recorder, 60);
    await sleep(50);
    unlinkSync(path);
    record(recorder, 60);
    await assert.rejects(recorder.finish(), /removed or replaced/);
  });

  it('fails, and leaves the other file alone, when its file is replaced while it records', async () => {
    const path = join(dir, 'replaced.ogg');
    const recorder = new CallRecorder(path);
    record(recorder, 60);
    await sleep(50);
    unlinkSync(path);
    writeFileSync(path, 'someone else’s file');
    record(recorder, 60);
    await assert.rejects(recorder.finish(), /removed or replaced/);
    assert.equal(readFileSync(path, 'utf8'), 'someone else’s file');
  });

  it('killed mid-recording, its process leaves a file that plays up to its last whole page (a second)', async () => {
    const path = join(dir, 'killed.ogg');
    // 2.6 s recorded, then SIGKILL: no end(), no end-of-stream page; the last 0.6 s was never a page.
    const child = `
      import { CallRecorder } from ${JSON.stringify(join(import.meta.dirname, 'call-recorder.ts'))};
      import { ToneGenerator } from ${JSON.stringify(join(import.meta.dirname, '../audio/tone.ts'))};
      const recorder = new CallRecorder(${JSON.stringify(path)});
      const caller = new ToneGenerator(440);
      const business = new ToneGenerator(660);
      for (let i = 0; i < 130; i++) {
        recorder.hearCaller(caller.next(${ENGINE_FRAME}));
        recorder.tick(business.next(${ENGINE_FRAME}));
      }
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300);
    `;
    const killed = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8' });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    const decoder = new OggOpusDecoder();
    await decoder.ready;
    const audio = await decoder.decodeFile(readFileSync(path));
    decoder.free();
    assert.deepEqual(audio.errors, []);
    assert.equal(audio.samplesDecoded, 2 * 48_000 - OPUS_PRE_SKIP);
  });

  it('on a disk that stops taking writes, stops at a bounded backlog and fails at once instead of waiting', async () => {
    let hung: Writable | null = null;
    const recorder = new CallRecorder(join(dir, 'hung.ogg'), {
      maxUnwrittenBytes: 16 * 1024,
      // A hung network mount: every write is accepted and none ever completes.
      open: () => {
        hung = new Writable({ write: () => {} });
        return hung;
      },
    });
    record(recorder, 3000); // a minute: several times the backlog allowed
    const backlog = (hung as Writable | null)?.writableLength ?? 0;
    assert.ok(backlog > 0 && backlog <= 16 * 1024 + 4096, `${backlog} bytes held unwritten`);
    await assert.rejects(recorder.finish(), /the recordings disk took none of this recording's last 16384 bytes/);
    assert.equal((hung as Writable | null)?.destroyed, true, 'the file given up');
  });
});
