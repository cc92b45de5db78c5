// Several processes whose RECORDINGS_DIRs are not shared: a recording lives in the directory of the process that
// recorded it. Another process must not serve it as gone nor mark it deleted while its file stays on the other
// host; processes sharing the directory (one .callgate-volume id) serve and delete each other's recordings.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { ringingCall } from '../../../../test/helpers/calls.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { recordingsVolume } from '../../../media/engine/recordings-volume.ts';
import { holdCallMedia, updateRecording } from '../../../store/call-media.ts';

const OGG = Buffer.from('OggS-not-really-but-bytes-to-serve');

for (const kind of storeKinds()) {
  describe(`a recording in another process's RECORDINGS_DIR [${kind}]`, () => {
    let t: TestApp;
    const elsewhere = mkdtempSync(join(tmpdir(), 'callgate-other-recordings-'));
    before(async () => {
      t = await buildTestApp(kind);
    });
    after(async () => {
      await t.close();
      rmSync(elsewhere, { recursive: true, force: true });
    });

    const api = (method: 'GET' | 'DELETE', url: string) =>
      t.app.inject({ method, url, headers: { 'x-api-key': t.numberA.key.key } });

    /** A ready recording of a call of number A, written by a process whose RECORDINGS_DIR is `dir`. */
    async function recordedIn(dir: string, volume: string | null) {
      const call = await ringingCall(t);
      const path = join(dir, `${call.id}.ogg`);
      writeFileSync(path, OGG);
      const now = new Date().toISOString();
      await holdCallMedia(t.store.db, {
        callId: call.id,
        numberId: t.numberA.id,
        mediaNode: 'another-host-4242',
        recordingPath: path,
        recordingVolume: volume,
        now,
        beat: false,
      });
      await updateRecording(t.store.db, call.id, { status: 'ready', durationSeconds: 1, sizeBytes: OGG.length, now });
      return { call, path };
    }

    test('GET and DELETE answer 404 saying where it is; the file stays and the call still says ready', async () => {
      const { call, path } = await recordedIn(elsewhere, recordingsVolume(elsewhere, true));
      const got = await api('GET', `/v1/calls/${call.id}/recording`);
      assert.equal(got.statusCode, 404, got.body);
      assert.equal(got.json().code, 'RECORDING_NOT_FOUND');
      assert.match(got.json().details.reason, /one shared RECORDINGS_DIR/);

      const deleted = await api('DELETE', `/v1/calls/${call.id}/recording`);
      assert.equal(deleted.statusCode, 404, deleted.body);
      assert.equal(deleted.json().code, 'RECORDING_NOT_FOUND');
      assert.equal(existsSync(path), true, 'the file on the other host is not touched');
      assert.equal((await api('GET', `/v1/calls/${call.id}`)).json().recording.status, 'ready', 'not "deleted"');
    });

    test('a recording made before the directory was recorded is served from where its path says', async () => {
      const { call } = await recordedIn(elsewhere, null);
      const got = await api('GET', `/v1/calls/${call.id}/recording`);
      assert.equal(got.statusCode, 200, got.body);
      assert.deepEqual(got.rawPayload, OGG);
    });

    test('processes sharing one directory serve and delete each other’s recordings', async () => {
      const shared = recordingsVolume(elsewhere, true);
      // This process's RECORDINGS_DIR carries the same id: it is the same directory, mounted here too.
      writeFileSync(join(t.config.media.recordingsDir, '.callgate-volume'), `${shared}\n`);
      const { call, path } = await recordedIn(elsewhere, shared);
      const got = await api('GET', `/v1/calls/${call.id}/recording`);
      assert.equal(got.statusCode, 200, got.body);
      assert.deepEqual(got.rawPayload, OGG);
      const deleted = await api('DELETE', `/v1/calls/${call.id}/recording`);
      assert.equal(deleted.statusCode, 200, deleted.body);
      assert.equal(existsSync(path), false);
    });
  });
}
