// A call's recording on the dashboard, in headless Chromium: a server-media call recorded for real (a werift user
// calls, callgate answers with record: true) is shown while it is recorded, then, live, as ready: played and
// downloaded from the file fetched with the key, and deleted after a confirmation. A failed recording says so.
// Screenshot: docs/dashboard-recording.png.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn } from '../../../../test/helpers/calls.ts';
import { launchChromium, newWatchedPage, signInToDashboard } from '../../../../test/helpers/chromium.ts';
import { missing } from '../../../../test/helpers/requirements.ts';
import { connectUser, startCall } from '../../../../test/helpers/server-media.ts';
import type { AudioEndpoint } from '../../../media/rtc/index.ts';
import { holdCallMedia, updateRecording } from '../../../store/call-media.ts';

const SCREENSHOT = join(import.meta.dirname, '../../../../docs/dashboard-recording.png');

describe('dashboard: a call’s recording', () => {
  let t: TestApp;
  const endpoints: AudioEndpoint[] = [];
  before(async () => {
    t = await buildTestApp('sqlite');
  });
  after(async () => {
    await Promise.all(endpoints.map((e) => e.close()));
    await t.close();
  });

  const api = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    t.app.inject({ method, url, headers: { 'x-api-key': t.numberA.key.key }, ...(payload ? { payload } : {}) });

  test('shown while recorded, then played, downloaded and deleted with the key; a failed one says so', {
    timeout: 90_000,
    skip: missing('chromium'),
  }, async () => {
    // Listed when the page opens: a call whose recording failed, and one never recorded.
    const failed = await callIn(t, 'COMPLETED');
    const now = new Date().toISOString();
    await holdCallMedia(t.store.db, {
      callId: failed.id,
      numberId: t.numberA.id,
      mediaNode: 'gone',
      recordingPath: '/nonexistent/recording.ogg',
      recordingVolume: null,
      now,
      beat: false,
    });
    await updateRecording(t.store.db, failed.id, { status: 'failed', durationSeconds: null, sizeBytes: null, now });
    const plain = await callIn(t, 'COMPLETED');
    const uc = await startCall(t, endpoints);
    assert.equal((await api('POST', `/v1/calls/${uc.call.id}/accept`, { record: true })).statusCode, 200);
    await connectUser(t, uc);

    const browser: Browser = await launchChromium();
    const problems: string[] = [];
    try {
      const { context, page } = await newWatchedPage(browser, problems);
      const fetched: { method: string; key: string | undefined }[] = [];
      page.on('request', (r) => {
        if (r.url().endsWith('/recording')) {
          fetched.push({ method: r.method(), key: r.headers()['x-api-key'] });
        }
      });
      const confirmations: string[] = [];
      let confirm = false;
      page.on('dialog', (d) => {
        confirmations.push(d.message());
        void (confirm ? d.accept() : d.dismiss());
      });

      await signInToDashboard(page, t.baseUrl, t.numberA.key.key);
      await page.locator('#conn[data-state="live"]').waitFor();
      await page.goto(`${t.baseUrl}/dashboard#/calls/${uc.call.id}`);
      const section = page.locator('#recording');
      await section.waitFor();
      await section.locator('.badge', { hasText: 'recording' }).waitFor();
      await page.locator('#recording-note').filter({ hasText: 'Being recorded' }).waitFor();
      assert.ok(await page.locator('#recording-player').isHidden(), 'nothing to play yet');
      assert.ok(await page.locator('#recording-delete').isHidden(), 'nothing to delete while recorded');

      // A couple of seconds recorded, then the call ends: the recording turns ready live, with no reload.
      await sleep(2000);
      assert.equal((await api('POST', `/v1/calls/${uc.call.id}/terminate`)).statusCode, 200);
      await section.locator('.badge', { hasText: 'ready' }).waitFor({ timeout: 10_000 });
      const recording = (await api('GET', `/v1/calls/${uc.call.id}`)).json().recording;
      assert.equal(recording.status, 'ready');
      assert.ok(recording.durationSeconds >= 2, JSON.stringify(recording));
      const facts = await page.locator('#recording-facts dd').allTextContents();
      const seconds = String(recording.durationSeconds % 60).padStart(2, '0');
      assert.equal(facts[1], `${Math.floor(recording.durationSeconds / 60)}:${seconds}`);
      assert.equal(
        await page.locator('#recording-facts dd span[title]').getAttribute('title'),
        `${recording.sizeBytes} bytes`,
      );

      // The player plays the file the API serves: fetched once, with the key, and decoded by Chromium.
      await page.locator('#recording-player').waitFor();
      const played = await eventually(
        () =>
          page.evaluate(() => {
            const audio = document.getElementById('recording-audio') as HTMLAudioElement;
            return audio.readyState >= 1 && Number.isFinite(audio.duration) ? audio.duration : null;
          }),
        5000,
        'the player to read the recording',
      );
      assert.ok(Math.abs(played - recording.durationSeconds) < 1.5, `${played} s against ${recording.durationSeconds}`);
      assert.deepEqual(fetched, [{ method: 'GET', key: t.numberA.key.key }]);
      const served = (await api('GET', `/v1/calls/${uc.call.id}/recording`)).rawPayload;
      assert.equal(served.length, recording.sizeBytes);

      // Download and Delete recording sit side by side, under the player.
      const download = await page.getByRole('link', { name: 'Download' }).boundingBox();
      const remove = await page.getByRole('button', { name: 'Delete recording' }).boundingBox();
      assert.ok(download && remove && download.y === remove.y && download.x < remove.x, 'one row');
      await page.mouse.move(0, 0);
      await page.screenshot({ path: SCREENSHOT, animations: 'disabled', fullPage: true });

      // The download is that same file, named after the call.
      const [downloaded] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('link', { name: 'Download' }).click(),
      ]);
      assert.equal(downloaded.suggestedFilename(), `${uc.call.id}.ogg`);
      assert.ok(readFileSync(await downloaded.path()).equals(served), 'the downloaded file is the recording');

      // Delete asks first; dismissed, nothing happens.
      await page.getByRole('button', { name: 'Delete recording' }).click();
      assert.equal(confirmations.length, 1);
      assert.match(String(confirmations[0]), /^Delete the recording of the call with \+\d+\?/);
      assert.equal((await api('GET', `/v1/calls/${uc.call.id}`)).json().recording.status, 'ready');
      confirm = true;
      await page.getByRole('button', { name: 'Delete recording' }).click();
      await page.locator('#recording-result').filter({ hasText: 'Recording deleted.' }).waitFor();
      await section.locator('.badge', { hasText: 'deleted' }).waitFor();
      await page.locator('#recording-note').filter({ hasText: 'The recording was deleted' }).waitFor();
      assert.ok(await page.locator('#recording-player').isHidden(), 'the player no longer offers the file');
      assert.ok(await page.locator('#recording-delete').isHidden());
      assert.equal(
        await page.evaluate(() => document.getElementById('recording-audio')?.getAttribute('src') ?? null),
        null,
      );
      assert.equal((await api('GET', `/v1/calls/${uc.call.id}`)).json().recording.status, 'deleted');
      assert.equal((await api('GET', `/v1/calls/${uc.call.id}/recording`)).statusCode, 404);
      assert.deepEqual(
        fetched.map((f) => f.method),
        ['GET', 'DELETE'],
      );

      // A recording that failed has nothing to play, and says so.
      await page.goto(`${t.baseUrl}/dashboard#/calls/${failed.id}`);
      await section.locator('.badge', { hasText: 'failed' }).waitFor();
      await page.locator('#recording-note').filter({ hasText: 'The recording failed' }).waitFor();
      assert.ok(await page.locator('#recording-player').isHidden());
      assert.deepEqual(await page.locator('#recording-facts dd').allTextContents(), ['failed', '—', '—']);

      // A call never recorded shows no recording at all.
      await page.goto(`${t.baseUrl}/dashboard#/calls/${plain.id}`);
      await page
        .locator('#panel-title')
        .filter({ hasText: `+${plain.peerNumber}` })
        .waitFor();
      assert.ok(await section.isHidden());
      await context.close();
    } finally {
      await browser.close();
    }
    assert.deepEqual(problems, [], 'no CSP violation, script error or failed load');
  });
});
