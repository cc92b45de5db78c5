// RECORDING_RETENTION_DAYS: past it a finished recording's file is deleted and the call says "deleted"; what is not
// finished, not old enough, or in another process's directory is left as it is.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../test/helpers/build-test-app.ts';
import { acceptedCall } from '../../test/helpers/calls.ts';
import { ManualClock } from '../../test/helpers/manual-clock.ts';
import { storeKinds } from '../../test/helpers/stores.ts';
import { recordingsVolume } from '../media/engine/recordings-volume.ts';

const DAY_MS = 86_400_000;

for (const kind of storeKinds()) {
  describe(`recordings past RECORDING_RETENTION_DAYS (${kind})`, () => {
    const clock = new ManualClock();
    let t: TestApp;
    let elsewhere: string;

    before(async () => {
      t = await buildTestApp(kind, { clock, env: { RECORDING_RETENTION_DAYS: '30' } });
      elsewhere = mkdtempSync(join(tmpdir(), 'callgate-other-host-'));
    });
    after(async () => {
      await t.close();
      rmSync(elsewhere, { recursive: true, force: true });
    });

    /** An answered call of number A with a recording row as the engine leaves it, and its file. */
    async function recorded(opts: {
      status: 'recording' | 'ready' | 'failed';
      finishedDaysAgo: number;
      dir?: string;
      volume?: string | null;
    }): Promise<{ id: string; path: string }> {
      const call = await acceptedCall(t);
      const dir = opts.dir ?? t.config.media.recordingsDir;
      mkdirSync(dir, { recursive: true });
      const volume = opts.volume === undefined ? recordingsVolume(dir, true) : opts.volume;
      const path = join(dir, `${call.id}.ogg`);
      writeFileSync(path, 'OggS');
      const at = new Date(clock.now().getTime() - opts.finishedDaysAgo * DAY_MS).toISOString();
      await t.store.db.execute(
        `INSERT INTO call_media (call_id, number_id, media, media_node, recording_status, recording_path,
            recording_volume, recording_duration_seconds, recording_size_bytes, created_at, updated_at)
          VALUES ($1, $2, 'server', NULL, $3, $4, $5, 12, 4, $6, $6)`,
        [call.id, t.numberA.id, opts.status, path, volume, at],
      );
      return { id: call.id, path };
    }

    const recordingOf = async (id: string) => {
      const res = await t.app.inject({ url: `/v1/calls/${id}`, headers: { 'x-api-key': t.numberA.key.key } });
      return res.json().recording;
    };

    test('only finished recordings older than the retention, in this process directory, are deleted', async () => {
      const retention = t.recordingRetention;
      assert.ok(retention, 'RECORDING_RETENTION_DAYS=30 gives the app a retention pass');
      const old = await recorded({ status: 'ready', finishedDaysAgo: 31 });
      const oldFailed = await recorded({ status: 'failed', finishedDaysAgo: 45 });
      const young = await recorded({ status: 'ready', finishedDaysAgo: 29 });
      const stillRecording = await recorded({ status: 'recording', finishedDaysAgo: 60 });
      const otherHost = await recorded({
        status: 'ready',
        finishedDaysAgo: 60,
        dir: elsewhere,
        volume: 'vol-of-host-b',
      });
      const legacyHere = await recorded({ status: 'ready', finishedDaysAgo: 60, volume: null });
      const legacyElsewhere = await recorded({ status: 'ready', finishedDaysAgo: 60, dir: elsewhere, volume: null });

      assert.equal(await retention.expireOnce(), 3);

      for (const gone of [old, oldFailed, legacyHere]) {
        assert.equal(existsSync(gone.path), false, `${gone.id}'s file is still there`);
        assert.equal((await recordingOf(gone.id)).status, 'deleted');
      }
      const served = await t.app.inject({
        url: `/v1/calls/${old.id}/recording`,
        headers: { 'x-api-key': t.numberA.key.key },
      });
      assert.equal(served.statusCode, 404);
      assert.equal(served.json().details.reason, "this call's recording was deleted");
      for (const kept of [young, stillRecording, otherHost, legacyElsewhere]) {
        assert.equal(existsSync(kept.path), true, `${kept.id}'s file was removed`);
      }
      assert.equal((await recordingOf(young.id)).status, 'ready');
      assert.equal((await recordingOf(stillRecording.id)).status, 'recording');

      // A day later the young one is due; the others stay as they are, and nothing is counted twice.
      clock.advance(DAY_MS + 1000);
      assert.equal(await retention.expireOnce(), 1);
      assert.equal(existsSync(young.path), false);
      assert.equal(await retention.expireOnce(), 0);
      assert.equal(existsSync(otherHost.path), true);
    });

    test('a file already gone, or a directory in its place, ends "deleted"; what is there is left', async () => {
      const retention = t.recordingRetention;
      assert.ok(retention);
      const vanished = await recorded({ status: 'ready', finishedDaysAgo: 40 });
      rmSync(vanished.path);
      const stuck = await recorded({ status: 'ready', finishedDaysAgo: 40 });
      rmSync(stuck.path);
      mkdirSync(join(stuck.path, 'inside'), { recursive: true });
      const expired = await retention.expireOnce();
      assert.equal((await recordingOf(vanished.id)).status, 'deleted');
      assert.equal((await recordingOf(stuck.id)).status, 'deleted');
      assert.equal(expired, 2);
      assert.equal(
        existsSync(join(stuck.path, 'inside')),
        true,
        "what is not the recording is not callgate's to remove",
      );
    });

    // Last: it leaves the pass stopped, as a shutdown does.
    test('stopping ends a pass under way at its next recording: shutdown does not wait for a whole backlog', async () => {
      const retention = t.recordingRetention;
      assert.ok(retention);
      await retention.stop();
      const due = [];
      for (let i = 0; i < 3; i++) {
        due.push(await recorded({ status: 'ready', finishedDaysAgo: 90 }));
      }
      retention.start(); // its first pass starts at once, reading the store
      await retention.stop(); // as at shutdown, while that read is under way
      for (const kept of due) {
        assert.equal(existsSync(kept.path), true, `${kept.id}'s file was removed after stop()`);
        assert.equal((await recordingOf(kept.id)).status, 'ready');
      }
    });
  });
}

describe('RECORDING_RETENTION_DAYS unset', () => {
  test('keeps recordings for ever: the app has no retention pass', async () => {
    const t = await buildTestApp('sqlite');
    try {
      assert.equal(t.recordingRetention, null);
    } finally {
      await t.close();
    }
  });
});
