// The calls dashboard: served with a strict CSP, and driven end to end in headless Chromium (Debian's package,
// through playwright-core): sign in, a call rings in live, is answered, ticks, shows its timeline, is hung up.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { CANNED_ANSWER_SDP } from '../../../../test/fakes/meta-graph.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { callIn, ringingCall, storedCall } from '../../../../test/helpers/calls.ts';
import { launchChromium, newWatchedPage } from '../../../../test/helpers/chromium.ts';
import { missing } from '../../../../test/helpers/requirements.ts';
import { newCallId } from '../../../ids.ts';
import { insertCall } from '../../../store/calls.ts';
import { DASHBOARD_CSP } from './dashboard.ts';

const SCREENSHOT = join(import.meta.dirname, '../../../../docs/dashboard.png');
const NUMBERS_SCREENSHOT = join(import.meta.dirname, '../../../../docs/dashboard-numbers.png');

/** The dashboard's words for the far end of a call with a known number. */
const peerText = (call: { peerNumber?: string | null }) => `+${call.peerNumber}`;

describe('dashboard', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp('sqlite');
  });
  after(() => t.close());

  test('serves the page and its assets with a strict CSP, the right types and ETags, outside OpenAPI', async () => {
    const cases = [
      ['/dashboard', /^text\/html; charset=utf-8$/],
      ['/dashboard/', /^text\/html; charset=utf-8$/],
      ['/dashboard/app.js', /^text\/javascript; charset=utf-8$/],
      ['/dashboard/webhooks.js', /^text\/javascript; charset=utf-8$/],
      ['/dashboard/web-number.js', /^text\/javascript; charset=utf-8$/],
      ['/dashboard/recording.js', /^text\/javascript; charset=utf-8$/],
      ['/dashboard/app.css', /^text\/css; charset=utf-8$/],
    ] as const;
    for (const [url, type] of cases) {
      const res = await t.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), type, url);
      assert.equal(res.headers['content-security-policy'], DASHBOARD_CSP, url);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.equal(res.headers['cache-control'], 'no-cache');
      const etag = String(res.headers.etag);
      assert.match(etag, /^"[\w-]+"$/);
      const again = await t.app.inject({ method: 'GET', url, headers: { 'if-none-match': `"other", ${etag}` } });
      assert.equal(again.statusCode, 304, url);
      assert.equal(again.body, '');
    }
    assert.equal(
      DASHBOARD_CSP,
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; media-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );

    const page = (await t.app.inject({ method: 'GET', url: '/dashboard' })).body;
    assert.match(page, /<script type="module" src="\/dashboard\/app\.js"><\/script>/);
    assert.doesNotMatch(
      page,
      /<script>|<style|style="|\son[a-z]+="/i,
      'no inline script, style or handler: the CSP would block it',
    );
    assert.equal((await t.app.inject({ method: 'GET', url: '/dashboard/nope.js' })).statusCode, 404);

    const spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.ok(!Object.keys(spec.paths).some((p) => p.startsWith('/dashboard')), 'hidden from OpenAPI');
  });

  test('in headless Chromium: a call appears live, ticks, shows its timeline and is hung up', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    // History for the list (and the screenshot): one call in each ended state.
    for (const status of ['COMPLETED', 'MISSED', 'REJECTED', 'FAILED'] as const) {
      await callIn(t, status);
    }

    const browser: Browser = await launchChromium();
    const problems: string[] = [];
    try {
      // A CSP violation, a script error or a failed load shows up here.
      const { context, page } = await newWatchedPage(browser, problems);
      const streamRequests: (string | undefined)[] = [];
      page.on('request', (r) => {
        if (r.url().endsWith('/v1/events/stream')) {
          streamRequests.push(r.headers()['last-event-id']);
        }
      });

      const response = await page.goto(`${t.baseUrl}/dashboard`);
      assert.equal(response?.headers()['content-security-policy'], DASHBOARD_CSP);

      // A tenant key opens the numbers page: list, create, rotate a key, delete, with no curl.
      await page.getByLabel('API key').fill(t.tenantKey.key);
      await page.getByRole('button', { name: 'Open dashboard' }).click();
      const numbers = page.locator('#numbers-body tr');
      await page.locator('#numbers-view').waitFor();
      await eventually(async () => (await numbers.count()) === 2, 5000, "the tenant's two numbers");
      await numbers
        .filter({ hasText: 'Number 0' })
        .filter({ hasText: `+${t.numberA.displayPhoneNumber}` })
        .waitFor();
      page.on('dialog', (d) => void d.accept()); // the confirmations of rotate and delete
      await page.getByLabel('Name', { exact: true }).fill('Front desk');
      await page.getByRole('button', { name: 'Create number' }).click();
      await page.locator('#issued-text').filter({ hasText: 'Front desk is ready' }).waitFor();
      const firstKey = String(await page.locator('#issued-key').textContent());
      await eventually(async () => (await numbers.count()) === 3, 5000, 'the new number listed');
      const asNumber = (key: string) => t.app.inject({ url: '/v1/number', headers: { 'x-api-key': key } });
      assert.equal((await asNumber(firstKey)).json().name, 'Front desk', "the shown key is the new number's");
      await page.getByRole('button', { name: 'Rotate the key of Front desk' }).click();
      await page.locator('#issued-text').filter({ hasText: 'New key for Front desk' }).waitFor();
      const secondKey = String(await page.locator('#issued-key').textContent());
      assert.equal((await asNumber(firstKey)).statusCode, 401, 'the old key stops working');
      assert.equal((await asNumber(secondKey)).statusCode, 200);
      await page.mouse.move(0, 0);
      await page.screenshot({ path: NUMBERS_SCREENSHOT, animations: 'disabled' });
      // A META number needs its Graph settings; a refusal names the problem and creates nothing.
      await page.getByLabel('Name', { exact: true }).fill('Half configured');
      await page.getByLabel('Provider').selectOption('META');
      await page.getByLabel('Phone (E.164').fill('+15550001234');
      await page.getByRole('button', { name: 'Create number' }).click();
      await page.locator('#nf-error').filter({ hasText: /\S/ }).waitFor();
      assert.equal(await numbers.count(), 3);
      await page.getByRole('button', { name: 'Delete Front desk' }).click();
      await eventually(async () => (await numbers.count()) === 2, 5000, 'the number deleted');
      assert.equal((await asNumber(secondKey)).statusCode, 401, "a deleted number's key stops working");
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.locator('#login-view').waitFor();
      // Chromium logs the refused META number (400). The tenant key's sign-in asked nothing it is refused: no 403.
      assert.deepEqual(
        problems.filter((p) => !/status of 400|^HTTP 400: .*\/v1\/numbers$/.test(p)),
        [],
      );
      problems.length = 0;

      // A number without calls says how a first call gets in: a sandbox number is rung with `simulate call`.
      const sandbox = await t.app.inject({
        method: 'POST',
        url: '/v1/numbers',
        headers: { 'x-api-key': t.tenantKey.key },
        payload: { provider: 'SANDBOX', name: 'Sandbox' },
      });
      assert.equal(sandbox.statusCode, 201, sandbox.body);
      for (const [key, title] of [
        [t.numberB.key.key, 'No calls yet.'],
        [sandbox.json().apiKey.key, 'No calls yet on this sandbox number.'],
      ]) {
        await page.getByLabel('API key').fill(key);
        await page.getByRole('button', { name: 'Open dashboard' }).click();
        await page.locator('#empty-title').filter({ hasText: title }).waitFor();
        assert.ok(await page.locator('#empty').isVisible());
        // The server is not at the CLI's default address: the command names it, so it works as copied.
        assert.equal(
          await page.locator('#empty-command').textContent(),
          `npm run --silent callgate -- simulate call --audio speech-sample --hangup-after 60 --url ${t.baseUrl}`,
        );
        if (key === t.numberB.key.key) {
          // A real number points at a sandbox number, with a create command that works as copied (it named no
          // --name, which `numbers create` requires).
          const how = (await page.locator('#empty-how').textContent()) ?? '';
          const create = `npm run --silent callgate -- numbers create --name Try --provider SANDBOX --url ${t.baseUrl})`;
          assert.ok(how.includes(create), how);
        }
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.locator('#login-view').waitFor();
      }
      streamRequests.length = 0;

      await page.getByLabel('API key').fill(t.numberA.key.key);
      await page.getByRole('button', { name: 'Open dashboard' }).click();
      await page.locator('#calls-view').waitFor();
      await page.locator('#conn[data-state="live"]').waitFor();
      await eventually(async () => (await page.locator('#calls-body tr').count()) === 4, 5000, 'the four past calls');
      await page.locator('#summary').filter({ hasText: '4 calls · 0 active' }).waitFor();
      // The header names the watched number, so a key for the wrong number is obvious.
      await page.locator('#watched-name').filter({ hasText: 'Number 0' }).waitFor();
      assert.equal(await page.locator('#watched-phone').textContent(), `+${t.numberA.displayPhoneNumber}`);
      // Every status the badges can show is a filter option under the same name.
      const options = await page.locator('#filter-status option').allTextContents();
      for (const status of ['RINGING', 'ACCEPTED', 'COMPLETED', 'MISSED', 'REJECTED', 'FAILED', 'INITIATED']) {
        assert.ok(
          options.some((o) => o.toUpperCase() === status),
          `a filter named like the ${status} badge`,
        );
      }
      assert.equal(await page.evaluate(() => sessionStorage.getItem('callgate.dashboard.apiKey')), t.numberA.key.key);
      assert.equal(await page.evaluate(() => localStorage.length), 0, 'the key is never kept beyond the tab');

      // Live: a call rings in without any reload.
      await page.evaluate(() => {
        (window as unknown as { notReloaded: boolean }).notReloaded = true;
      });
      const call = await ringingCall(t);
      const row = page.locator(`#calls-body tr[data-id="${call.id}"]`);
      await row.locator('.badge[data-status="RINGING"]').waitFor({ timeout: 5000 });
      await page.locator('#announcer').filter({ hasText: 'New incoming call' }).waitFor();
      assert.equal(
        await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded),
        true,
        'no reload',
      );
      assert.equal(await page.locator('#calls-body tr').first().getAttribute('data-id'), call.id, 'newest first');
      // A ringing call shows how long it has been waiting, and the wait ticks.
      const waited = row.locator('td.duration');
      const firstWait = String(await waited.textContent());
      assert.match(firstWait, /^Waiting 0:0\d$/);
      await eventually(async () => (await waited.textContent()) !== firstWait, 3000, 'the wait to tick');

      // The connection drops; a call rings meanwhile; the page reconnects with Last-Event-ID and misses nothing.
      assert.deepEqual(streamRequests, [undefined]);
      t.app.server.closeAllConnections();
      await page.locator('#conn[data-state="reconnecting"]').waitFor({ timeout: 5000 });
      const other = await ringingCall(t);
      await page.locator(`#calls-body tr[data-id="${other.id}"]`).waitFor({ timeout: 8000 });
      await page.locator('#conn[data-state="live"]').waitFor();
      assert.equal(streamRequests.length, 2);
      assert.match(String(streamRequests[1]), /\S/, 'the reconnect resumes from the last event seen');
      // Chromium reports the cut stream; that one is expected.
      assert.deepEqual(
        problems.filter((p) => !/ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_EMPTY_RESPONSE/.test(p)),
        [],
      );
      problems.length = 0;

      // Answered: the status changes and the duration ticks.
      const accepted = await t.app.inject({
        method: 'POST',
        url: `/v1/calls/${call.id}/accept`,
        headers: { 'x-api-key': t.numberA.key.key },
        payload: { sdp: CANNED_ANSWER_SDP },
      });
      assert.equal(accepted.statusCode, 200, accepted.body);
      await row.locator('.badge[data-status="ACCEPTED"]').waitFor({ timeout: 5000 });
      const duration = row.locator('td.duration');
      const first = await duration.textContent();
      assert.match(String(first), /^0:0\d$/);
      await eventually(async () => (await duration.textContent()) !== first, 3000, 'the duration to tick');

      // Filters: by status and by text.
      const rows = (n: number, what: string) =>
        eventually(async () => (await page.locator('#calls-body tr').count()) === n, 3000, what);
      await page.getByLabel('Status').selectOption('active');
      await rows(2, 'only the active calls');
      await page.getByLabel('Status').selectOption('COMPLETED');
      await rows(1, 'only the completed call');
      // The filter lives in the address: a reload (or a shared link) shows the same list.
      const hash = () => page.evaluate(() => location.hash);
      assert.equal(await hash(), '#/?status=COMPLETED');
      await page.reload();
      await page.locator('#conn[data-state="live"]').waitFor();
      assert.equal(await page.getByLabel('Status').inputValue(), 'COMPLETED');
      await rows(1, 'still only the completed call after a reload');
      await page.getByLabel('Status').selectOption('');
      await page.getByLabel('Search peer or call id').fill((call.peerNumber ?? '').slice(-6));
      await rows(1, 'only the call with that peer');
      await page.getByLabel('Search peer or call id').fill('');
      await rows(6, 'every call again');
      // Search asks the server: a call from yesterday, never loaded nor streamed, is found by peer and by id.
      const template = await storedCall(t, t.numberA, call.id);
      assert.ok(template);
      const yesterday = new Date(Date.now() - 86_400_000).toISOString();
      const old = {
        ...template,
        id: newCallId(),
        externalCallId: 'wacid.yesterday-0001',
        peerNumber: '19995550123',
        status: 'MISSED' as const,
        createdAt: yesterday,
        startedAt: yesterday,
        updatedAt: yesterday,
        connectedAt: null,
        endedAt: yesterday,
      };
      await insertCall(t.store.db, old);
      const searches: string[] = [];
      page.on('request', (r) => {
        if (r.url().includes('/v1/calls')) {
          searches.push(new URL(r.url()).search);
        }
      });
      await page.getByLabel('Search peer or call id').fill('+1 999 555');
      await page.locator(`#calls-body tr[data-id="${old.id}"]`).waitFor({ timeout: 5000 });
      await rows(1, 'only the call from yesterday');
      assert.ok(searches.includes('?limit=100&peer=1999555'), searches.join(' '));
      assert.match(await hash(), /^#\/\?q=%2B1\+999\+555$/);
      await page.getByLabel('Search peer or call id').fill('wacid.yesterday-0001');
      await rows(1, 'the call found by its provider id');
      await page.getByLabel('Search peer or call id').fill('000000000');
      await page.locator('#empty-title').filter({ hasText: 'No calls match the filter.' }).waitFor();
      assert.ok(await page.locator('#empty-command-wrap').isHidden());
      await page.getByLabel('Search peer or call id').fill('');
      await rows(7, 'every call, the found one kept');

      // The timeline of the answered call, at the call's own address.
      await row.click();
      const panel = page.locator('#panel');
      await panel.waitFor();
      assert.equal(await hash(), `#/calls/${call.id}`);
      await panel.locator('.ev-type', { hasText: 'accept' }).waitFor();
      await panel.locator('.ev-type', { hasText: 'offer' }).waitFor();
      await eventually(
        async () => (await row.locator('td.duration').textContent()) !== '0:01',
        3000,
        'a couple of seconds talked',
      );
      // Beside the open call the list keeps every column in view: its Hang up buttons were cut off at the edge.
      const hidden = await page.locator('#calls-table').evaluate((table) => {
        const wrap = table.parentElement as HTMLElement;
        return wrap.scrollWidth - wrap.clientWidth;
      });
      assert.equal(hidden, 0, 'pixels of the list out of view');
      await page.mouse.move(0, 0); // no hover highlight in the picture
      mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, animations: 'disabled' });

      // Hang up, through the confirmation dialog.
      await panel.getByRole('button', { name: 'Hang up' }).click();
      const dialog = page.getByRole('dialog', { name: 'Hang up this call?' });
      await dialog.waitFor();
      await dialog.getByRole('button', { name: 'Hang up' }).click();
      await panel.locator('#action-result').filter({ hasText: 'COMPLETED' }).waitFor({ timeout: 5000 });
      await row.locator('.badge[data-status="COMPLETED"]').waitFor();
      await panel.locator('.ev-type', { hasText: 'terminate' }).waitFor();
      assert.equal(await row.locator('td').nth(5).textContent(), 'Business');
      const stored = await storedCall(t, t.numberA, call.id);
      assert.equal(stored?.status, 'COMPLETED');
      assert.equal(stored?.endedBy, 'BUSINESS');
      assert.equal(
        t.fake.countRequests({ action: 'terminate', call_id: call.externalCallId }),
        1,
        'one hang-up reached Meta',
      );

      // Back and forward move between the open call and the list.
      await page.getByRole('button', { name: 'Close call details' }).click();
      await panel.waitFor({ state: 'hidden' });
      assert.equal(await hash(), '#/');
      await page.goBack();
      await panel.waitFor();
      assert.equal(await page.locator('#panel-title').textContent(), `Call with ${peerText(call)}`);
      await page.goForward();
      await panel.waitFor({ state: 'hidden' });
      // A link straight to a call opens it.
      await page.goto(`${t.baseUrl}/dashboard#/calls/${other.id}`);
      await panel.waitFor();
      assert.equal(await page.locator('#panel-title').textContent(), `Call with ${peerText(other)}`);
      await page.locator('#timeline .ev-type', { hasText: 'offer' }).waitFor();
      // A link to a call this number does not have says so, and opens nothing.
      const missingId = `call_${'0'.repeat(26)}`;
      await page.goto(`${t.baseUrl}/dashboard#/calls/${missingId}`);
      await page
        .locator('#summary')
        .filter({ hasText: `Call ${missingId} was not found` })
        .waitFor();
      assert.ok(await panel.isHidden());
      assert.deepEqual(
        problems.filter((p) => !/status of 404|^HTTP 404: .*\/v1\/calls\/call_0+$/.test(p)),
        [],
      );
      problems.length = 0;
      // A tenant page's link opened with a number key says which key it needs instead of showing the calls silently.
      await page.goto(`${t.baseUrl}/dashboard#/webhooks`);
      await page.locator('#summary').filter({ hasText: 'The Webhooks page needs the tenant key' }).waitFor();
      await page.goto(`${t.baseUrl}/dashboard#/numbers`);
      await page.locator('#summary').filter({ hasText: 'The Numbers page needs the tenant key' }).waitFor();

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.locator('#login-view').waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.length), 0);
      await context.close();
    } finally {
      await browser.close();
    }
    assert.deepEqual(problems, [], 'no CSP violation, script error or failed load');
  });

  test('signing out leaves no key shown once and no typed provider secret for the next person', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const browser: Browser = await launchChromium();
    try {
      const { context, page } = await newWatchedPage(browser, []);
      await page.goto(`${t.baseUrl}/dashboard`);
      await page.getByLabel('API key').fill(t.tenantKey.key);
      await page.getByRole('button', { name: 'Open dashboard' }).click();
      await page.locator('#numbers-view').waitFor();
      await page.getByLabel('Name', { exact: true }).fill('Shared screen');
      await page.getByRole('button', { name: 'Create number' }).click();
      await page.locator('#issued-text').filter({ hasText: 'Shared screen is ready' }).waitFor();
      const issued = String(await page.locator('#issued-key').textContent());
      assert.match(issued, /^ps_/);
      // Typed, not submitted: a Meta token and app secret.
      await page.getByLabel('Provider').selectOption('META');
      await page.getByLabel('Access token').fill('EAAG-secret-token');
      await page.getByLabel('App secret').fill('app-secret-value');
      await page.getByLabel('Verify token').fill('verify-secret');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.locator('#login-view').waitFor();

      const html = await page.content();
      for (const secret of [issued, 'EAAG-secret-token', 'app-secret-value', 'verify-secret']) {
        assert.ok(!html.includes(secret), `the page still holds ${secret.slice(0, 6)}…`);
      }
      const values = await page.$$eval('#number-form input', (inputs) =>
        inputs.map((i) => (i as HTMLInputElement).value).filter(Boolean),
      );
      assert.deepEqual(values, [], 'the number form is empty for the next sign-in');
      await context.close();
    } finally {
      await browser.close();
    }
  });
});
