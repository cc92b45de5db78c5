import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ToneGenerator } from '../audio/tone.ts';
import { ENGINE_FRAME } from './audio-queue.ts';
import { CallRecorder } from './call-recorder.ts';

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

  it('fails, rather than reporting a recording it never wrote, when its file cannot be created', async () => {
    const path = join(dir, 'taken.ogg');
    writeFileSync(path, 'someone else’s file');
    const recorder = new CallRecorder(path);
    record(recorder, 50);
    await assert.rejects(recorder.finish(), { code: 'EEXIST' });
    assert.equal(readFileSync(path, 'utf8'), 'someone else’s file');
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
});
