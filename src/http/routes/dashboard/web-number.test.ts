// The Numbers page creates a web number (EVO_GO) on callgate's Evolution Go server, in headless Chromium against
// the Evolution fake: the QR is shown as an image, a new one can be asked, and the state follows until the phone
// has scanned it. Screenshot: docs/dashboard-web-number.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { FakeEvolution } from '../../../../test/fakes/evolution-go.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { launchChromium, newWatchedPage, signInToDashboard } from '../../../../test/helpers/chromium.ts';
import { startOnboardingServer } from '../../../../test/helpers/evolution.ts';
import { missing } from '../../../../test/helpers/requirements.ts';

const SCREENSHOT = join(import.meta.dirname, '../../../../docs/dashboard-web-number.png');

describe('dashboard: a web number paired by QR', () => {
  let evo: FakeEvolution;
  let t: TestApp;
  before(async () => {
    // The fake starts with some other customer's instance on the same server.
    const server = await startOnboardingServer();
    evo = server.evo;
    t = await buildTestApp('sqlite', { env: server.env });
  });
  after(async () => {
    await evo.close();
    await t.close();
  });

  test('create an EVO_GO number, scan its QR, see it connected', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const browser: Browser = await launchChromium();
    const problems: string[] = [];
    try {
      const { context, page } = await newWatchedPage(browser, problems);
      await signInToDashboard(page, t.baseUrl, t.tenantKey.key);
      await page.locator('#numbers-view').waitFor();
      const numbers = page.locator('#numbers-body tr');
      await eventually(async () => (await numbers.count()) === 2, 5000, "the tenant's two numbers");

      // Without its phone number there is nothing to pair: said before asking the server.
      await page.getByLabel('Name', { exact: true }).fill('Loja');
      await page.getByLabel('Provider').selectOption('EVO_GO');
      await page.getByRole('button', { name: 'Create number' }).click();
      await page.locator('#nf-error').filter({ hasText: 'needs its phone number' }).waitFor();
      assert.equal(evo.created.length, 0);

      await page.getByLabel('Phone (E.164').fill('+5511977770000');
      await page.getByRole('button', { name: 'Create number' }).click();
      await page.locator('#issued-text').filter({ hasText: 'Loja is ready' }).waitFor();
      const card = page.locator('#qr-card');
      await card.waitFor();
      await page.locator('#qr-state').filter({ hasText: 'Waiting for the scan' }).waitFor();
      const img = page.getByRole('img', { name: 'QR code to scan with WhatsApp' });
      const qr = async () => ({
        src: String(await img.getAttribute('src')),
        // A real PNG the browser decoded, not a broken image.
        width: await img.evaluate((el) => (el as HTMLImageElement).naturalWidth),
      });
      const first = await qr();
      assert.match(first.src, /^data:image\/png;base64,/);
      assert.ok(first.width > 0, 'the QR image decodes');

      // The number is listed as connecting, its instance subscribed to calls with callgate's webhook.
      const instanceId = evo.created.at(-1) ?? '';
      const row = numbers.filter({ hasText: 'Loja' });
      await row.filter({ hasText: 'CONNECTING' }).waitFor();
      const numberId = String(await row.getAttribute('data-id'));
      assert.deepEqual(evo.instanceSetup(instanceId), {
        webhookUrl: `${t.baseUrl}/providers/evolution/webhook/${numberId}`,
        subscribe: ['CALL', 'CONNECTION'],
        rejectCall: false,
      });
      // No blank band above New QR (an empty error line held a line and a gap), and the list's rows, three
      // buttons and all, stay inside it.
      const layout = await page.evaluate(() => {
        const box = (sel: string) => document.querySelector(sel)?.getBoundingClientRect();
        const help = document.querySelector('.qr-help');
        const wrap = document.querySelector('#numbers-table')?.parentElement;
        return {
          aboveNewQr: Math.round((box('#qr-new')?.top ?? 0) - (box('#qr-state')?.bottom ?? 0)),
          gap: help ? Number.parseFloat(getComputedStyle(help).rowGap) : null,
          listOutOfView: wrap ? wrap.scrollWidth - wrap.clientWidth : null,
        };
      });
      assert.deepEqual(layout, { aboveNewQr: 10, gap: 10, listOutOfView: 0 });
      await page.mouse.move(0, 0);
      await page.screenshot({ path: SCREENSHOT, animations: 'disabled' });

      // A code runs out after a minute: a new one replaces it.
      await page.getByRole('button', { name: 'New QR' }).click();
      await eventually(async () => (await qr()).src !== first.src, 5000, 'a new QR');
      assert.ok((await qr()).width > 0);

      // The phone scans it: the page sees the number connected without a click, and the list says OPEN.
      evo.completePairing(instanceId, '5511977770000');
      await page.locator('#qr-state').filter({ hasText: 'Connected: Loja receives calls.' }).waitFor({ timeout: 8000 });
      assert.ok(await img.isHidden());
      await row.filter({ hasText: 'OPEN' }).waitFor();
      assert.equal(await row.getByRole('button', { name: 'Pair Loja by QR' }).count(), 0, 'nothing left to pair');
      const status = await t.app.inject({
        url: `/v1/numbers/${numberId}/status`,
        headers: { 'x-api-key': t.tenantKey.key },
      });
      assert.equal(status.json().state, 'OPEN');

      await page.getByRole('button', { name: 'Close' }).click();
      assert.ok(await card.isHidden());

      // A web number created elsewhere and never scanned gets its QR from its row.
      const other = await t.app.inject({
        method: 'POST',
        url: '/v1/numbers',
        headers: { 'x-api-key': t.tenantKey.key },
        payload: { name: 'Filial', number: '+5511966660000', linkToApiKey: false },
      });
      assert.equal(other.statusCode, 201, other.body);
      await page.reload();
      await page.getByRole('button', { name: 'Pair Filial by QR' }).click();
      await page.locator('#qr-title').filter({ hasText: 'Pair Filial (+5511966660000)' }).waitFor();
      await page.locator('#qr-state').filter({ hasText: 'Waiting for the scan' }).waitFor();
      assert.ok((await qr()).width > 0);
      await context.close();
    } finally {
      await browser.close();
    }
    // The tenant key's sign-in asks nothing that key is refused (it used to try the calls: a 403 every time).
    assert.deepEqual(problems, []);
  });
});
