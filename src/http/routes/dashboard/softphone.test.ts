// The dashboard's softphone in headless Chromium with a fake microphone playing an 880 Hz WAV, against a SANDBOX
// number whose simulated users are werift peers inside the app. Real media both ways; ICE on 127.0.0.1 only (the
// sandbox announces and pairs with nothing else; Chromium may use loopback). Screenshot: docs/softphone.png.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { outbox } from '../../../../test/helpers/calls.ts';
import { launchChromium, watchProblems } from '../../../../test/helpers/chromium.ts';
import { addWebNumber, webCallUntil } from '../../../../test/helpers/evolution.ts';
import { missing } from '../../../../test/helpers/requirements.ts';
import { tone } from '../../../media/audio/tone.ts';
import { writeWav } from '../../../media/audio/wav.ts';
import type { Call } from '../../../model/call.ts';

const SCREENSHOT = join(import.meta.dirname, '../../../../docs/softphone.png');

/** Dominant frequency of what the page's <audio> element plays, by a WebAudio analyser inside the page. */
function pageHears(page: Page): Promise<number | null> {
  return page.evaluate(async () => {
    const audio = document.getElementById('remote-audio') as HTMLAudioElement;
    const stream = audio.srcObject as MediaStream | null;
    if (!stream) {
      return null;
    }
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 8192;
    context.createMediaStreamSource(stream).connect(analyser);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    let best = 1;
    for (let i = 1; i < bins.length; i++) {
      if ((bins[i] ?? -Infinity) > (bins[best] ?? -Infinity)) {
        best = i;
      }
    }
    const loudEnough = (bins[best] ?? -Infinity) > -70;
    const hz = (best * context.sampleRate) / analyser.fftSize;
    await context.close();
    return loudEnough ? hz : null;
  });
}

const near = (hz: number | null | undefined, target: number, tolerance: number) =>
  typeof hz === 'number' && Math.abs(hz - target) <= tolerance;

describe('softphone', () => {
  let t: TestApp;
  let key: string;
  const dir = mkdtempSync(join(tmpdir(), 'callgate-softphone-'));
  const micWav = join(dir, 'mic-880.wav');

  const api = async (method: 'GET' | 'POST', url: string, payload?: object) => {
    const res = await t.app.inject({ method, url, headers: { 'x-api-key': key }, ...(payload ? { payload } : {}) });
    return res.json();
  };
  const call = (id: string): Promise<Call> => api('GET', `/v1/calls/${id}`);
  const simulatedUserHears = async (id: string) => (await api('GET', `/v1/sandbox/calls/${id}`)).heard.frequencyHz;

  /** Chromium with a fake microphone playing micWav, ICE on loopback, audio played without a gesture. */
  const phoneBrowser = () =>
    launchChromium([
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${micWav}`,
      '--autoplay-policy=no-user-gesture-required',
      // ICE on loopback: real host addresses instead of mDNS names, and the loopback interface allowed.
      '--allow-loopback-in-peer-connection',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ]);
  /** Opens the dashboard in `page` and signs in with the sandbox number's key; page errors go to `problems`. */
  const signIn = async (page: Page, problems: string[]): Promise<Page> => {
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.goto(`${t.baseUrl}/dashboard`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Open dashboard' }).click();
    await page.locator('#conn[data-state="live"]').waitFor();
    await page.locator('#sandbox-badge').waitFor({ state: 'visible' });
    return page;
  };
  /** A page of its own (a context: no BroadcastChannel shared) signed in with the sandbox number's key. */
  const signedIn = async (browser: Browser, problems: string[]): Promise<Page> => {
    const context = await browser.newContext({ permissions: ['microphone'] });
    return signIn(await context.newPage(), problems);
  };

  before(async () => {
    t = await buildTestApp('sqlite');
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/numbers',
      headers: { 'x-api-key': t.tenantKey.key },
      payload: { provider: 'SANDBOX', name: 'Sandbox', sandbox: { answerAfterSeconds: 1, audio: 'tone:660' } },
    });
    assert.equal(res.statusCode, 201, res.body);
    key = res.json().apiKey.key;
    writeFileSync(micWav, writeWav({ sampleRate: 48_000, samples: tone(880, 5, 48_000, 0.6) }));
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('answer a simulated call with the microphone, hear it, hang up; several tabs; call out from the dial pad', {
    timeout: 120_000,
    skip: missing('chromium'),
  }, async () => {
    const browser: Browser = await phoneBrowser();
    const problems: string[] = [];
    let context: BrowserContext | undefined;
    try {
      context = await browser.newContext({
        viewport: { width: 1280, height: 860 },
        deviceScaleFactor: 1,
        locale: 'en-GB',
        timezoneId: 'UTC',
        colorScheme: 'light',
        permissions: ['microphone'],
      });
      const open = async (): Promise<Page> => {
        const page = await (context as BrowserContext).newPage();
        page.on('console', (m) => {
          if (m.type() === 'error') {
            problems.push(`console.error: ${m.text()}`);
          }
        });
        return signIn(page, problems);
      };
      const page = await open();
      // SANDBOX once, as the badge: not a second time in the label.
      assert.match(String(await page.locator('#number-label').textContent()), /^Sandbox · \+99\d{10}$/);

      // A simulated user calls; the softphone rings with Answer, Decline and the waiting time.
      const started = await api('POST', '/v1/sandbox/calls', { from: '+15550004444', audio: 'tone:440' });
      const id: string = started.call.id;
      const ring = page.locator(`#incoming li[data-id="${id}"]`);
      await ring.getByRole('button', { name: 'Decline' }).waitFor();
      await eventually(
        async () => /^0:0[1-9]$/.test(String(await ring.locator('.ring-wait').textContent())),
        4000,
        'the waiting time',
      );

      await ring.getByRole('button', { name: 'Answer' }).click();
      await page
        .locator('#oncall-state')
        .filter({ hasText: /^Connected$/ })
        .waitFor({ timeout: 15_000 });
      assert.equal((await call(id)).status, 'ACCEPTED');
      // The call in progress sits right under the (empty) ringing list, which no longer says no call is ringing.
      const ringing = await page.locator('#incoming').boundingBox();
      const oncall = await page.locator('#oncall').boundingBox();
      assert.ok(ringing && oncall);
      assert.ok(oncall.y - (ringing.y + ringing.height) <= 12, `a gap of ${oncall.y - ringing.y - ringing.height}px`);
      assert.equal(await page.locator('#incoming').evaluate((el) => getComputedStyle(el, '::before').content), 'none');
      await eventually(
        async () => near(await simulatedUserHears(id), 880, 3),
        10_000,
        'the simulated user to hear the mic',
      );
      await eventually(async () => near(await pageHears(page), 440, 12), 10_000, 'the page to hear 440 Hz');
      assert.ok(Number(await page.locator('#mic-level').getAttribute('value')) > 0, 'the level meter moves');
      assert.ok((await page.locator('#mic-select option').count()) >= 1, 'an input device to choose');

      // Mute: the simulated user hears silence, the call stays up.
      await page.getByRole('button', { name: 'Mute' }).click();
      await eventually(async () => (await simulatedUserHears(id)) === null, 5000, 'silence while muted');
      await page.getByRole('button', { name: 'Unmute' }).click();
      await eventually(async () => near(await simulatedUserHears(id), 880, 3), 5000, 'the mic again');

      await eventually(async () => (await page.locator('#oncall-timer').textContent()) !== '0:00', 4000, 'the timer');
      await page.mouse.move(0, 0);
      mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, animations: 'disabled' });

      await page.locator('#oncall-hangup').click();
      await page.locator('#oncall').waitFor({ state: 'hidden', timeout: 5000 });
      const ended = await eventually(
        async () => {
          const c = await call(id);
          return c.status === 'COMPLETED' && c;
        },
        5000,
        'COMPLETED',
      );
      assert.equal(ended.endedBy, 'BUSINESS');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal((await outbox(t, ended)).filter((e) => e.type === 'call.ended').length, 1, 'one call.ended');
      await page.locator('#dial-status').filter({ hasText: 'completed by business' }).waitFor();

      // Two tabs: the one that answers holds the media; the other says so and offers no Answer.
      const second = await open();
      const next = (await api('POST', '/v1/sandbox/calls', { audio: 'tone:440' })).call.id;
      await second.locator(`#incoming li[data-id="${next}"]`).getByRole('button', { name: 'Answer' }).waitFor();
      await page.locator(`#incoming li[data-id="${next}"]`).getByRole('button', { name: 'Answer' }).click();
      await page
        .locator('#oncall-state')
        .filter({ hasText: /^Connected$/ })
        .waitFor({ timeout: 15_000 });
      const elsewhere = second.locator(`#incoming li[data-id="${next}"]`);
      await elsewhere.locator('.ring-note').filter({ hasText: 'Answered elsewhere' }).waitFor();
      assert.equal(await elsewhere.getByRole('button', { name: 'Answer' }).count(), 0);
      assert.equal(await second.locator('#oncall').isHidden(), true);
      await page.locator('#oncall-hangup').click();
      await second.locator(`#incoming li[data-id="${next}"]`).waitFor({ state: 'detached', timeout: 5000 });
      await second.close();

      // Dial pad: no permission yet → ask → the user allows → call → the sandbox answers with its 660 Hz.
      await page.locator('#dial-to').fill('+155500');
      for (const digit of ['0', '5', '5', '5', '5']) {
        await page.locator(`#keypad [data-digit="${digit}"]`).click();
      }
      assert.equal(await page.locator('#dial-to').inputValue(), '+15550005555');
      await page.getByRole('button', { name: 'Call', exact: true }).click();
      await page.locator('#dial-status').filter({ hasText: 'has not allowed calls' }).waitFor();
      await page.getByRole('button', { name: 'Ask permission' }).click();
      await page.locator('#dial-status').filter({ hasText: 'allowed calls (temporary' }).waitFor({ timeout: 5000 });
      await page.getByRole('button', { name: 'Call', exact: true }).click();
      await page
        .locator('#oncall-state')
        .filter({ hasText: /^Connected$/ })
        .waitFor({ timeout: 15_000 });
      const { calls } = await api('GET', '/v1/calls?limit=1');
      const outbound: Call = calls[0];
      assert.equal(outbound.direction, 'OUTBOUND');
      assert.equal(outbound.peerNumber, '15550005555');
      assert.equal(outbound.status, 'ACCEPTED');
      assert.equal(await page.locator('#dial-status').textContent(), '', 'no "Calling…" once the user picked up');
      await eventually(async () => near(await pageHears(page), 660, 12), 10_000, 'the page to hear the sandbox user');
      await eventually(
        async () => near(await simulatedUserHears(outbound.id), 880, 3),
        10_000,
        'the sandbox user to hear the mic',
      );
      await page.locator('#oncall-hangup').click();
      const done = await eventually(
        async () => {
          const c = await call(outbound.id);
          return c.status === 'COMPLETED' && c;
        },
        5000,
        'the outbound call to end',
      );
      assert.equal(done.endedBy, 'BUSINESS');
    } finally {
      await context?.close();
      await browser.close();
    }
    assert.deepEqual(problems, [], 'no CSP violation or script error');
  });

  test('Ring me: a simulated user calls the sandbox number from the page, saying what was chosen', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const browser = await phoneBrowser();
    const problems: string[] = [];
    try {
      const page = await signedIn(browser, problems);
      const before = (await api('GET', '/v1/calls?limit=1')).calls[0]?.id;

      await page.getByLabel('What the simulated caller says').selectOption('tone:440');
      await page.getByRole('button', { name: 'Ring me' }).click();
      await page.locator('#dial-status').filter({ hasText: 'A simulated user' }).waitFor();
      const { calls } = await api('GET', '/v1/calls?limit=1');
      const rung: Call = calls[0];
      assert.notEqual(rung.id, before, 'a new call');
      assert.equal(rung.direction, 'INBOUND');
      assert.ok((await page.locator('#dial-status').textContent())?.includes(`+${rung.peerNumber}`));
      await page.locator(`#incoming li[data-id="${rung.id}"]`).getByRole('button', { name: 'Answer' }).click();
      await page
        .locator('#oncall-state')
        .filter({ hasText: /^Connected$/ })
        .waitFor({ timeout: 15_000 });
      await eventually(async () => near(await pageHears(page), 440, 12), 10_000, 'the page to hear 440 Hz');
      await page.locator('#oncall-hangup').click();
      await eventually(async () => (await call(rung.id)).status === 'COMPLETED', 5000, 'the call to end');
    } finally {
      await browser.close();
    }
    assert.deepEqual(problems, []);
  });

  test('pressing Call twice places one call, and Answer while it is being placed answers nothing', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const to = '+15550006666';
    await api('POST', '/v1/calls/permissions/request', { to });
    await eventually(
      async () =>
        (await api('GET', `/v1/calls/permissions?to=${encodeURIComponent(to)}`)).permission.status !== 'no_permission',
      4000,
      'the permission',
    );
    const browser = await phoneBrowser();
    const problems: string[] = [];
    try {
      const page = await signedIn(browser, problems);

      // A call rings while the browser places its own: answering it too would leave one of the two without media.
      const ringing = (await api('POST', '/v1/sandbox/calls', { audio: 'tone:440' })).call.id;
      const answerButton = page.locator(`#incoming li[data-id="${ringing}"]`).getByRole('button', { name: 'Answer' });
      await answerButton.waitFor();

      await page.locator('#dial-to').fill(to);
      await page.getByRole('button', { name: 'Call', exact: true }).dblclick();
      await answerButton.click();
      await page
        .locator('#oncall-state')
        .filter({ hasText: /^Connected$/ })
        .waitFor({ timeout: 15_000 });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const { calls } = await api('GET', '/v1/calls?limit=10');
      const placed = calls.filter((c: Call) => c.direction === 'OUTBOUND' && c.peerNumber === '15550006666');
      assert.equal(placed.length, 1, `one outbound call: ${JSON.stringify(placed.map((c: Call) => c.status))}`);
      assert.equal((await call(ringing)).status, 'RINGING', 'the ringing call was not answered meanwhile');
      await page.locator('#oncall-hangup').click();
      await eventually(async () => (await call(placed[0].id)).status === 'COMPLETED', 5000, 'the call to end');
      assert.equal((await api('POST', `/v1/calls/${ringing}/reject`, {})).status, 'REJECTED');
    } finally {
      await browser.close();
    }
    assert.deepEqual(problems, []);
  });

  test('a button held down while the waiting time ticks still acts when released', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const browser = await launchChromium();
    const problems: string[] = [];
    try {
      const page = await browser.newPage();
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await page.goto(`${t.baseUrl}/dashboard`);
      await page.getByLabel('API key').fill(key);
      await page.getByRole('button', { name: 'Open dashboard' }).click();
      await page.locator('#conn[data-state="live"]').waitFor();

      const id: string = (await api('POST', '/v1/sandbox/calls', { audio: 'tone:440' })).call.id;
      const item = page.locator(`#incoming li[data-id="${id}"]`);
      const decline = item.getByRole('button', { name: 'Decline' });
      await decline.waitFor();
      await decline.focus();
      const box = await decline.boundingBox();
      assert.ok(box);
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      // A press spans a tick of the waiting time, as a slow click does now and then.
      const waited = await item.locator('.ring-wait').textContent();
      await page.mouse.down();
      await eventually(
        async () => (await item.locator('.ring-wait').textContent()) !== waited,
        4000,
        'the waiting time to tick',
      );
      assert.equal(
        await decline.evaluate((button) => button === document.activeElement),
        true,
        'the pressed button keeps the focus',
      );
      await page.mouse.up();
      await eventually(async () => (await call(id)).status === 'REJECTED', 5000, 'the call to be declined');
    } finally {
      await browser.close();
    }
    assert.deepEqual(problems, []);
  });

  test('an accept lost on the way can be retried: Answer again connects the call, with audio both ways', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const browser = await phoneBrowser();
    const problems: string[] = [];
    try {
      const page = await signedIn(browser, problems);
      // The first accept never reaches the server (a dropped connection); the pre-accept before it did.
      let drop = true;
      await page.route('**/v1/calls/*/accept', (route) => {
        if (drop) {
          drop = false;
          return route.abort('connectionreset');
        }
        return route.continue();
      });

      const id: string = (await api('POST', '/v1/sandbox/calls', { audio: 'tone:440' })).call.id;
      const answer = page.locator(`#incoming li[data-id="${id}"]`).getByRole('button', { name: 'Answer' });
      await answer.click();
      await page.locator('#dial-status').filter({ hasText: 'Could not answer' }).waitFor({ timeout: 10_000 });
      assert.equal((await call(id)).status, 'RINGING');

      await answer.click();
      await page
        .locator('#oncall-state')
        .filter({ hasText: /^Connected$/ })
        .waitFor({ timeout: 15_000 });
      assert.equal((await call(id)).status, 'ACCEPTED');
      await eventually(async () => near(await simulatedUserHears(id), 880, 3), 10_000, 'the user to hear the mic');
      await eventually(async () => near(await pageHears(page), 440, 12), 10_000, 'the page to hear 440 Hz');
      await page.locator('#oncall-hangup').click();
      await eventually(async () => (await call(id)).status === 'COMPLETED', 5000, 'the call to end');
    } finally {
      await browser.close();
    }
    assert.deepEqual(problems, []);
  });

  test('two browsers answering at once: the later one is told the call is being answered elsewhere', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const browser = await phoneBrowser();
    const problems: string[] = [];
    try {
      // Two contexts share no BroadcastChannel: two people, or two computers.
      const open = () => signedIn(browser, problems);
      const first = await open();
      const second = await open();
      // The first browser's accept waits until the second has tried: the call is pre-accepted, still ringing.
      let releaseAccept: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        releaseAccept = resolve;
      });
      await first.route('**/v1/calls/*/accept', async (route) => {
        await held;
        await route.continue();
      });

      const id: string = (await api('POST', '/v1/sandbox/calls', { audio: 'tone:440' })).call.id;
      const preAccepted = first.waitForResponse((r) => r.url().endsWith(`/v1/calls/${id}/pre-accept`));
      await first.locator(`#incoming li[data-id="${id}"]`).getByRole('button', { name: 'Answer' }).click();
      assert.equal((await preAccepted).status(), 200);
      await second.locator(`#incoming li[data-id="${id}"]`).getByRole('button', { name: 'Answer' }).click();
      await second.locator('#dial-status').filter({ hasText: 'Could not answer' }).waitFor({ timeout: 10_000 });
      assert.equal(
        await second.locator('#dial-status').textContent(),
        'Could not answer: the call is being answered elsewhere (CALL_STATE_CONFLICT)',
      );

      releaseAccept();
      await first
        .locator('#oncall-state')
        .filter({ hasText: /^Connected/ })
        .waitFor({ timeout: 15_000 });
      await second
        .locator(`#incoming li[data-id="${id}"] .ring-note`)
        .filter({ hasText: 'Answered elsewhere' })
        .waitFor();
      await first.locator('#oncall-hangup').click();
      await eventually(async () => (await call(id)).status === 'COMPLETED', 5000, 'the call to end');
    } finally {
      await browser.close();
    }
    assert.deepEqual(problems, []);
  });

  test('a double click on Decline or Hang up sends one request and reports its result', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const browser = await launchChromium();
    const problems: string[] = [];
    try {
      const page = await browser.newPage();
      watchProblems(page, problems);
      await page.goto(`${t.baseUrl}/dashboard`);
      await page.getByLabel('API key').fill(key);
      await page.getByRole('button', { name: 'Open dashboard' }).click();
      await page.locator('#conn[data-state="live"]').waitFor();
      const sent: string[] = [];
      page.on('request', (r) => {
        if (r.method() === 'POST') {
          sent.push(new URL(r.url()).pathname);
        }
      });

      const declined: string = (await api('POST', '/v1/sandbox/calls', { from: '+15550001001' })).call.id;
      await page.locator(`#incoming li[data-id="${declined}"]`).getByRole('button', { name: 'Decline' }).dblclick();
      await page.locator('#dial-status').filter({ hasText: 'rejected by business' }).waitFor({ timeout: 5000 });

      // Answered by callgate's own media, so the Phone panel offers Hang up.
      const ended: string = (await api('POST', '/v1/sandbox/calls', { from: '+15550001002' })).call.id;
      assert.equal((await api('POST', `/v1/calls/${ended}/accept`, {})).status, 'ACCEPTED');
      await page.locator(`#incoming li[data-id="${ended}"]`).getByRole('button', { name: 'Hang up' }).dblclick();
      await page.locator('#dial-status').filter({ hasText: 'completed by business' }).waitFor({ timeout: 5000 });

      assert.deepEqual(sent, [`/v1/calls/${declined}/reject`, `/v1/calls/${ended}/terminate`]);
      assert.equal((await call(declined)).status, 'REJECTED');
      assert.equal((await call(ended)).status, 'COMPLETED');
    } finally {
      await browser.close();
    }
    assert.deepEqual(problems, [], 'no 409 from a second request');
  });

  test('a tab closed while it answers gives Answer back to the other tabs', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const browser = await launchChromium();
    const problems: string[] = [];
    try {
      const context = await browser.newContext();
      const open = async () => {
        const page = await context.newPage();
        page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
        await page.goto(`${t.baseUrl}/dashboard`);
        await page.getByLabel('API key').fill(key);
        await page.getByRole('button', { name: 'Open dashboard' }).click();
        await page.locator('#conn[data-state="live"]').waitFor();
        return page;
      };
      const answering = await open();
      const other = await open();
      // The answering tab stays in the middle of its answer (as at the microphone prompt) until it is closed.
      await answering.route('**/v1/calls/*?includeSdp=1', () => undefined);

      const id: string = (await api('POST', '/v1/sandbox/calls', { audio: 'tone:440' })).call.id;
      await answering.locator(`#incoming li[data-id="${id}"]`).getByRole('button', { name: 'Answer' }).click();
      const item = other.locator(`#incoming li[data-id="${id}"]`);
      await item.locator('.ring-note').filter({ hasText: 'Being answered in another tab' }).waitFor();
      await answering.close();
      await item.getByRole('button', { name: 'Answer' }).waitFor({ timeout: 5000 });
      assert.equal((await call(id)).status, 'RINGING');
      await item.getByRole('button', { name: 'Decline' }).click();
      await eventually(async () => (await call(id)).status === 'REJECTED', 5000, 'the call to be declined');
    } finally {
      await browser.close();
    }
    assert.deepEqual(problems, []);
  });

  test('a call the provider refuses says why, in the provider’s words', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const to = '+15550008888';
    await api('POST', '/v1/calls/permissions/request', { to });
    await eventually(
      async () =>
        (await api('GET', `/v1/calls/permissions?to=${encodeURIComponent(to)}`)).permission.status !== 'no_permission',
      4000,
      'the permission',
    );
    // The user is already ringing the number: WhatsApp refuses a second call with them (138003).
    const ringing: string = (await api('POST', '/v1/sandbox/calls', { from: to })).call.id;
    const browser = await phoneBrowser();
    const problems: string[] = [];
    try {
      const page = await signedIn(browser, problems);

      await page.locator('#dial-to').fill(to);
      await page.getByRole('button', { name: 'Call', exact: true }).click();
      await page.locator('#dial-status').filter({ hasText: 'Could not call' }).waitFor({ timeout: 10_000 });
      assert.equal(
        await page.locator('#dial-status').textContent(),
        'Could not call: The provider refused the request: There is already an ongoing call with this user ' +
          '(PROVIDER_ERROR)',
      );
      assert.equal(await page.locator('#oncall').isHidden(), true);
    } finally {
      await browser.close();
      await api('POST', `/v1/calls/${ringing}/reject`, {});
    }
    assert.deepEqual(problems, []);
  });

  test('an EVO_GO number answers, declines and hangs up through the API, without the microphone', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const web = await addWebNumber(t);
    const browser = await launchChromium();
    const problems: string[] = [];
    try {
      const page = await browser.newPage();
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await page.goto(`${t.baseUrl}/dashboard`);
      await page.getByLabel('API key').fill(web.key.key);
      await page.getByRole('button', { name: 'Open dashboard' }).click();
      await page.locator('#conn[data-state="live"]').waitFor();
      await page.locator('#phone-note').filter({ hasText: 'the audio is on the phone' }).waitFor();
      assert.equal(await page.locator('#sandbox-badge').isHidden(), true);
      assert.equal(await page.getByRole('button', { name: 'Ring me' }).isHidden(), true, 'only sandbox numbers');

      const declined = await web.fake.incomingCall({ instanceId: web.instanceId, from: '5511988880001' });
      const first = await webCallUntil(t, web, declined, 'RINGING');
      await page.locator(`#incoming li[data-id="${first.id}"]`).getByRole('button', { name: 'Decline' }).click();
      await webCallUntil(t, web, declined, 'REJECTED');

      const answered = await web.fake.incomingCall({ instanceId: web.instanceId, from: '5511988880002' });
      const second = await webCallUntil(t, web, answered, 'RINGING');
      const item = page.locator(`#incoming li[data-id="${second.id}"]`);
      await item.getByRole('button', { name: 'Answer' }).click();
      await item.locator('.ring-note').filter({ hasText: 'audio on the phone' }).waitFor();
      await webCallUntil(t, web, answered, 'ACCEPTED');
      assert.equal(await page.locator('#oncall').isHidden(), true, 'no browser media on a web number');
      await item.getByRole('button', { name: 'Hang up' }).click();
      const ended = await webCallUntil(t, web, answered, 'COMPLETED');
      assert.equal(ended.endedBy, 'BUSINESS');
    } finally {
      await browser.close();
      await web.fake.close();
    }
    assert.deepEqual(problems, []);
  });
});
