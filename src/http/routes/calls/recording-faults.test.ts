// Recordings under faults an operator meets: a recordings directory that cannot be made, a disk that fills
// mid-call, a file removed or replaced behind callgate's back.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import fsPromises from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, mock, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { outbox } from '../../../../test/helpers/calls.ts';
import { logSink } from '../../../../test/helpers/log-sink.ts';
import { missing } from '../../../../test/helpers/requirements.ts';
import { connectUser, mediaServer, startCall } from '../../../../test/helpers/server-media.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { mountTmpfs } from '../../../../test/helpers/tmpfs.ts';
import { wavFile } from '../../../../test/helpers/wav.ts';
import { tone } from '../../../media/audio/tone.ts';
import type { AudioEndpoint } from '../../../media/rtc/index.ts';

const endpoints: AudioEndpoint[] = [];
const media = await mediaServer({ 'tone.wav': wavFile([tone(660, 3, 16_000)], 16_000) });
after(async () => {
  await Promise.all(endpoints.map((e) => e.close()));
  media.server.close();
});

function apiOf(t: TestApp) {
  return (
    method: 'GET' | 'POST' | 'DELETE' | 'HEAD',
    url: string,
    payload?: object,
    headers: Record<string, string> = {},
  ) =>
    t.app.inject({
      method,
      url,
      headers: { 'x-api-key': t.numberA.key.key, ...headers },
      ...(payload ? { payload } : {}),
    });
}

async function recordingOutcome(t: TestApp, callId: string) {
  const api = apiOf(t);
  return eventually(
    async () => {
      const r = (await api('GET', `/v1/calls/${callId}`)).json().recording;
      return r && r.status !== 'recording' && r;
    },
    8000,
    'the recording’s outcome',
  );
}

/** The call still works: a play reaches the caller at its pitch, and the call stays answered. */
async function assertCallWorks(t: TestApp, uc: Awaited<ReturnType<typeof startCall>>) {
  const api = apiOf(t);
  assert.equal(
    (await api('POST', `/v1/calls/${uc.call.id}/play`, { mediaUrl: media.url('tone.wav') })).statusCode,
    200,
  );
  assert.equal(await eventually(async () => uc.user.heard().frequencyHz === 660, 5000, 'the play at the caller'), true);
  assert.equal((await api('GET', `/v1/calls/${uc.call.id}`)).json().status, 'ACCEPTED');
}

for (const workers of ['0', '1']) {
  describe(`a recordings directory that cannot be made (MEDIA_WORKERS=${workers})`, () => {
    test('accept with record answers 200, the call works, the recording ends failed with one call.recording_ready', async () => {
      // A regular file where a directory should be: ENOTDIR even for root (EACCES is not, as tests run).
      const base = mkdtempSync(join(tmpdir(), 'callgate-notdir-'));
      writeFileSync(join(base, 'file'), 'x');
      const logs = logSink();
      const t = await buildTestApp('sqlite', {
        env: {
          WEBHOOK_ALLOW_INSECURE_URLS: 'true',
          MEDIA_WORKERS: workers,
          RECORDINGS_DIR: join(base, 'file', 'recordings'),
        },
        logger: logs.logger,
      });
      const api = apiOf(t);
      try {
        // Said at start, before any call: the operator need not wait for a recording to fail to learn it.
        const warned = logs.find(/^RECORDINGS_DIR cannot be written/);
        assert.equal(warned.length, 1);
        assert.equal(warned[0]?.dir, join(base, 'file', 'recordings'));
        const uc = await startCall(t, endpoints);
        const accept = await api('POST', `/v1/calls/${uc.call.id}/accept`, { record: true });
        assert.equal(accept.statusCode, 200, accept.body);
        await connectUser(t, uc);
        await assertCallWorks(t, uc);
        await api('POST', `/v1/calls/${uc.call.id}/terminate`);
        const r = await recordingOutcome(t, uc.call.id);
        assert.equal(r.status, 'failed');
        await sleep(300);
        assert.equal((await outbox(t, uc.call)).filter((e) => e.type === 'call.recording_ready').length, 1);
        const get = await api('GET', `/v1/calls/${uc.call.id}/recording`);
        assert.equal(get.statusCode, 404, get.body);
      } finally {
        await t.close();
        rmSync(base, { recursive: true, force: true });
      }
    });
  });
}

/** The paths this process has open (the file descriptors' targets). */
function openPaths(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return [];
    }
  });
}

describe('a recording file removed or replaced after the call', () => {
  test('GET is a 404 RECORDING_NOT_FOUND and DELETE a 200 that leaves what is not the file alone, never a 500; HEAD and 416 close the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'callgate-recordings-'));
    const t = await buildTestApp('sqlite', { env: { RECORDINGS_DIR: dir } });
    const api = apiOf(t);
    try {
      const uc = await startCall(t, endpoints);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, { record: true })).statusCode, 200);
      await connectUser(t, uc);
      await sleep(1200);
      await api('POST', `/v1/calls/${uc.call.id}/terminate`);
      const recording = await recordingOutcome(t, uc.call.id);
      assert.equal(recording.status, 'ready');
      const path = join(dir, `${uc.call.id}.ogg`);
      const url = `/v1/calls/${uc.call.id}/recording`;

      const head = await api('HEAD', url);
      assert.equal(head.statusCode, 200);
      assert.equal(head.headers['content-length'], String(recording.sizeBytes));
      assert.equal(head.rawPayload.length, 0);
      assert.equal((await api('GET', url, undefined, { range: `bytes=${recording.sizeBytes}-` })).statusCode, 416);
      assert.equal((await api('GET', url, undefined, { range: 'bytes=-0' })).statusCode, 416);
      // An If-Range cannot match (no validator is ever sent): the Range is ignored, the whole file comes.
      const ifRange = await api('GET', url, undefined, { range: 'bytes=0-9', 'if-range': '"abc"' });
      assert.equal(ifRange.statusCode, 200);
      assert.equal(ifRange.rawPayload.length, recording.sizeBytes);
      assert.equal((await api('GET', url)).rawPayload.length, recording.sizeBytes);
      await eventually(async () => !openPaths().includes(path), 2000, 'the file closed after GET, HEAD and 416');
      // HEAD on a long recording (a sparse 4 GiB here) answers from the size, without reading the file through.
      truncateSync(path, 4 * 2 ** 30);
      const big = await api('HEAD', url);
      assert.equal(big.headers['content-length'], String(4 * 2 ** 30));
      assert.equal(openPaths().includes(path), false, 'HEAD closed the file before answering');

      // Someone put a directory where the file was.
      rmSync(path);
      mkdirSync(path);
      const replaced = await api('GET', url);
      assert.equal(replaced.statusCode, 404, replaced.body);
      assert.equal(replaced.json().code, 'RECORDING_NOT_FOUND');
      assert.equal((await api('HEAD', url)).statusCode, 404);
      writeFileSync(join(path, 'theirs'), 'someone else’s');
      const deleted = await api('DELETE', url);
      assert.equal(deleted.statusCode, 200, deleted.body);
      assert.equal(readFileSync(join(path, 'theirs'), 'utf8'), 'someone else’s', 'what is not the recording stays');
      assert.equal((await api('GET', `/v1/calls/${uc.call.id}`)).json().recording.status, 'deleted');
      rmSync(path, { recursive: true });
      const removed = await api('GET', url);
      assert.equal(removed.statusCode, 404, removed.body);
      assert.equal(removed.json().code, 'RECORDING_NOT_FOUND');

      assert.equal((await api('DELETE', url)).statusCode, 200);
      const other = await t.app.inject({ method: 'DELETE', url, headers: { 'x-api-key': t.numberB.key.key } });
      assert.equal(other.json().code, 'CALL_NOT_FOUND');
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a recording file callgate cannot open as it is', () => {
  test('a FIFO in its place is a 404 at once (no thread left waiting); out of descriptors is a 503, not a 404', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'callgate-recordings-'));
    const t = await buildTestApp('sqlite', { env: { RECORDINGS_DIR: dir } });
    const api = apiOf(t);
    let fifo: string | null = null;
    try {
      const uc = await startCall(t, endpoints);
      const path = join(dir, `${uc.call.id}.ogg`);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, { record: true })).statusCode, 200);
      await connectUser(t, uc);
      await sleep(600);
      await api('POST', `/v1/calls/${uc.call.id}/terminate`);
      assert.equal((await recordingOutcome(t, uc.call.id)).status, 'ready');
      const url = `/v1/calls/${uc.call.id}/recording`;

      const open = mock.method(fsPromises, 'open', async () => {
        throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
      });
      syncBuiltinESMExports();
      let busy: Awaited<ReturnType<typeof api>>;
      try {
        busy = await api('GET', url);
      } finally {
        open.mock.restore();
        syncBuiltinESMExports();
      }
      assert.equal(busy.statusCode, 503, busy.body);
      assert.equal(busy.json().code, 'SERVICE_UNAVAILABLE');
      assert.ok(busy.headers['retry-after']);
      assert.equal((await api('GET', url)).statusCode, 200, 'the recording is still there');

      rmSync(path);
      const made = spawnSync('mkfifo', [path]);
      assert.equal(made.status, 0, String(made.stderr));
      fifo = path;
      const answer = await Promise.race([api('GET', url), sleep(3000).then(() => null)]);
      assert.ok(answer, 'GET answered, not parked on the FIFO');
      assert.equal(answer.statusCode, 404, answer.body);
      assert.equal(answer.json().code, 'RECORDING_NOT_FOUND');
    } finally {
      if (fifo) {
        // Releases an open() still waiting for a writer (without the fix), so the process can end.
        try {
          closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
        } catch {}
      }
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a recording file removed while the call is recorded', () => {
  test('the call goes on; the recording ends failed (not ready with a file nobody can fetch), announced once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'callgate-recordings-'));
    const t = await buildTestApp('sqlite', { env: { RECORDINGS_DIR: dir, MEDIA_WORKERS: '1' } });
    const api = apiOf(t);
    try {
      const uc = await startCall(t, endpoints);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, { record: true })).statusCode, 200);
      await connectUser(t, uc);
      await sleep(1200);
      // While it is recorded the file is neither served nor deleted.
      for (const method of ['GET', 'HEAD', 'DELETE'] as const) {
        const early = await api(method, `/v1/calls/${uc.call.id}/recording`);
        assert.equal(early.statusCode, 409, `${method} ${early.body}`);
      }
      assert.equal((await api('DELETE', `/v1/calls/${uc.call.id}/recording`)).json().code, 'CALL_STATE_CONFLICT');
      rmSync(join(dir, `${uc.call.id}.ogg`));
      await sleep(300);
      assert.equal((await api('GET', `/v1/calls/${uc.call.id}`)).json().status, 'ACCEPTED');
      await api('POST', `/v1/calls/${uc.call.id}/terminate`);
      assert.equal((await recordingOutcome(t, uc.call.id)).status, 'failed');
      await sleep(300);
      const ready = (await outbox(t, uc.call)).filter((e) => e.type === 'call.recording_ready');
      assert.equal(ready.length, 1);
      assert.deepEqual(
        ready.map((e) => (e.payload as { recording: { status: string } }).recording.status),
        ['failed'],
      );
      assert.equal((await api('GET', `/v1/calls/${uc.call.id}/recording`)).json().code, 'RECORDING_NOT_FOUND');
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a disk full at the recordings directory’s first recording', { skip: missing('tmpfs') }, () => {
  test('the directory still gets its id once space returns, and later recordings carry it', async () => {
    const disk = mountTmpfs(1);
    const t = await buildTestApp('sqlite', { env: { RECORDINGS_DIR: disk.dir } });
    const api = apiOf(t);
    try {
      disk.fill();
      const first = await startCall(t, endpoints);
      assert.equal((await api('POST', `/v1/calls/${first.call.id}/accept`, { record: true })).statusCode, 200);
      await api('POST', `/v1/calls/${first.call.id}/terminate`);
      assert.equal((await recordingOutcome(t, first.call.id)).status, 'failed');

      disk.free();
      const second = await startCall(t, endpoints);
      assert.equal((await api('POST', `/v1/calls/${second.call.id}/accept`, { record: true })).statusCode, 200);
      await connectUser(t, second);
      await sleep(1200);
      await api('POST', `/v1/calls/${second.call.id}/terminate`);
      assert.equal((await recordingOutcome(t, second.call.id)).status, 'ready');
      const id = readFileSync(join(disk.dir, '.callgate-volume'), 'utf8').trim();
      assert.match(id, /^vol_[0-9a-f]{24}$/, 'the directory’s id was written once there was space');
      const rows = await t.store.db.query<{ recording_volume: string | null }>(
        'SELECT recording_volume FROM call_media WHERE call_id = $1',
        [second.call.id],
      );
      assert.equal(rows[0]?.recording_volume, id);
    } finally {
      await t.close();
      disk.unmount();
    }
  });
});

for (const kind of storeKinds()) {
  for (const workers of ['0', '1']) {
    describe(`a disk that fills during a recording (${kind}, MEDIA_WORKERS=${workers})`, {
      skip: missing('tmpfs'),
    }, () => {
      test('the call goes on, the recording ends failed once, its file is closed; DELETE frees what was written', async () => {
        const disk = mountTmpfs(1);
        const t = await buildTestApp(kind, {
          env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true', RECORDINGS_DIR: disk.dir, MEDIA_WORKERS: workers },
        });
        const api = apiOf(t);
        try {
          const uc = await startCall(t, endpoints);
          assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, { record: true })).statusCode, 200);
          await connectUser(t, uc);
          await sleep(1200);
          disk.fill();
          await sleep(1200);
          await assertCallWorks(t, uc);
          await api('POST', `/v1/calls/${uc.call.id}/terminate`);
          assert.equal((await recordingOutcome(t, uc.call.id)).status, 'failed');
          const path = join(disk.dir, `${uc.call.id}.ogg`);
          assert.ok(!openPaths().includes(path), 'the file is not left open');
          await sleep(300);
          assert.equal((await outbox(t, uc.call)).filter((e) => e.type === 'call.recording_ready').length, 1);
          assert.equal((await api('GET', `/v1/calls/${uc.call.id}/recording`)).json().code, 'RECORDING_NOT_FOUND');
          // What was written before the disk filled stays until the recording is deleted.
          assert.ok(statSync(path).size > 0);
          assert.equal((await api('DELETE', `/v1/calls/${uc.call.id}/recording`)).statusCode, 200);
          assert.equal(existsSync(path), false);
          const ended = (await api('GET', `/v1/calls/${uc.call.id}`)).json();
          assert.deepEqual([ended.status, ended.endedBy], ['COMPLETED', 'BUSINESS']);
          assert.equal((await outbox(t, uc.call)).filter((e) => e.type === 'call.ended').length, 1);
        } finally {
          await t.close();
          disk.unmount();
        }
      });
    });
  }
}
