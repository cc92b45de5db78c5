// The dashboard's Webhooks page in headless Chromium, with a tenant key, against a real receiver and a delivery
// worker on the test store: create (secret shown once, and it signs), pause, a failing target's log (response body,
// next retry), replay to a receiver that now answers 200, rotate, disabled by a 410, delete.
// Screenshot: docs/dashboard-webhooks.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  emitEvents,
  startTestWorker,
  type TestWorker,
  verifyWith,
  workerConfig,
} from '../../../../test/e2e/webhook-helpers.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../../../test/fakes/webhook-receiver.ts';
import { buildTestApp, eventually, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { launchChromium, newWatchedPage, signInToDashboard } from '../../../../test/helpers/chromium.ts';
import { missing } from '../../../../test/helpers/requirements.ts';

const SCREENSHOT = join(import.meta.dirname, '../../../../docs/dashboard-webhooks.png');
const HOUR = 3_600_000;

/**
 * The space between the page's title bar and `below` (the view's flex gap, 16 px, when nothing empty sits between),
 * and between the delivery log's head and its table beyond the head's own margin and the table's border (0 when
 * nothing sits between; null when the log is not shown). Empty error lines left blank bands in both places.
 */
function bands(page: Page, below: string) {
  return page.evaluate((below) => {
    const box = (sel: string) => document.querySelector(sel)?.getBoundingClientRect();
    const px = (sel: string, prop: 'marginBottom' | 'borderTopWidth') => {
      const el = document.querySelector(sel);
      return el ? Number.parseFloat(getComputedStyle(el)[prop]) : 0;
    };
    const title = box('#webhooks-view > .toolbar');
    const head = box('.log-head');
    const table = box('#deliveries-table');
    const shown = head && table && head.height > 0;
    return {
      underTitle: Math.round((box(below)?.top ?? Number.NaN) - (title?.bottom ?? Number.NaN)),
      underLogHead: shown
        ? Math.round(
            table.top -
              head.bottom -
              px('.log-head', 'marginBottom') -
              px('#webhook-detail .table-wrap', 'borderTopWidth'),
          )
        : null,
    };
  }, below);
}

describe('dashboard webhooks page', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let worker: TestWorker;
  before(async () => {
    t = await buildTestApp('sqlite', { env: { WEBHOOK_ALLOW_INSECURE_URLS: 'true' } });
    receiver = await startWebhookReceiver();
    // A failed attempt is retried an hour later: the log shows when, and the test never sees the retry itself.
    worker = startTestWorker(t.store.db, workerConfig({ webhookRetryScheduleMs: [0, HOUR, 2 * HOUR] }));
  });
  after(async () => {
    await worker.stop();
    await receiver.close();
    await t.close();
  });

  const getWebhook = (id: string) =>
    t.app.inject({ url: `/v1/webhooks/${id}`, headers: { 'x-api-key': t.tenantKey.key } });
  const callEnded = () =>
    emitEvents(t.store.db, { tenantId: t.tenantId, numberId: t.numberA.id }, [{ type: 'call.ended' }]);

  test('create, pause, a failing delivery in the log, replay, rotate and delete, without curl', {
    timeout: 90_000,
    skip: missing('chromium'),
  }, async () => {
    const browser: Browser = await launchChromium();
    const problems: string[] = [];
    try {
      const { context, page } = await newWatchedPage(browser, problems, ['clipboard-read', 'clipboard-write']);
      page.on('dialog', (d) => void d.accept()); // the confirmations of rotate and delete

      await signInToDashboard(page, t.baseUrl, t.tenantKey.key);
      await page.locator('#numbers-view').waitFor();
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await page.locator('#webhooks-view').waitFor();
      assert.equal(await page.evaluate(() => location.hash), '#/webhooks');
      await page.locator('#webhooks-empty').waitFor();

      // The events offered are the server's list.
      const offered = await page
        .locator('#wf-events input')
        .evaluateAll((inputs) => inputs.map((i) => (i as HTMLInputElement).value));
      const served = (
        await t.app.inject({ url: '/v1/webhooks/event-types', headers: { 'x-api-key': t.tenantKey.key } })
      ).json() as { events: { name: string }[] };
      assert.deepEqual(offered, ['*', ...served.events.map((e) => e.name)]);

      // A refusal of the API is shown in the form, and nothing is created.
      await page.getByLabel('Number', { exact: true }).selectOption(t.numberA.id);
      await page.getByLabel('URL').fill('ftp://example.com/hook');
      await page.getByLabel('call.ended').check();
      await page.getByRole('button', { name: 'Create webhook' }).click();
      await page.locator('#wf-error').filter({ hasText: 'VALIDATION_ERROR' }).waitFor();
      assert.equal(await page.locator('#webhooks-body tr').count(), 0);

      // Created: the secret is shown once, with a copy button, and it is the one that signs deliveries.
      await page.getByLabel('Name (optional)').fill('CRM');
      await page.getByLabel('URL').fill(receiver.url);
      await page.getByLabel('call.ringing').check();
      await page.getByRole('button', { name: 'Create webhook' }).click();
      await page.locator('#wh-secret-text').filter({ hasText: 'CRM is registered' }).waitFor();
      const secret = String(await page.locator('#wh-secret').textContent());
      assert.match(secret, /^whsec_/);
      await page.getByRole('button', { name: 'Copy' }).click();
      await page.getByRole('button', { name: 'Copied' }).waitFor();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
      const row = page.locator('#webhooks-body tr').filter({ hasText: 'CRM' });
      await row.locator('.badge[data-state="active"]').waitFor();
      const id = String(await row.getAttribute('data-id'));
      assert.match(id, /^whk_/);
      assert.match(String(await row.textContent()), /call\.ringing, call\.ended/);
      assert.equal((await getWebhook(id)).json().whatsappNumberId, t.numberA.id);
      // Shown once: after a reload the page has no trace of it.
      await page.reload();
      await row.locator('.badge[data-state="active"]').waitFor();
      assert.ok(await page.locator('#wh-secret-box').isHidden());
      assert.ok(!(await page.content()).includes(secret));

      // No blank band under the title: the page's error line takes no room while it is empty.
      assert.deepEqual(await bands(page, '#webhooks-list'), { underTitle: 16, underLogHead: null });
      // One number's webhooks: the filter lives in the address, so a reload keeps it.
      const billing = await t.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'x-api-key': t.tenantKey.key },
        payload: { url: `${receiver.url}/b`, name: 'Billing', events: ['call.ended'], whatsappNumberId: t.numberB.id },
      });
      assert.equal(billing.statusCode, 201, billing.body);
      await page.reload();
      const rows = page.locator('#webhooks-body tr');
      await rows.filter({ hasText: 'Billing' }).waitFor();
      await page.getByLabel('Show the webhooks of').selectOption(t.numberA.id);
      await eventually(async () => (await rows.count()) === 1, 3000, "only number A's webhook");
      assert.equal(await page.evaluate(() => location.hash), `#/webhooks?number=${t.numberA.id}`);
      await page.reload();
      await page.locator('#webhooks-summary').filter({ hasText: '1 of 2 webhooks' }).waitFor();
      assert.equal(await page.getByLabel('Show the webhooks of').inputValue(), t.numberA.id);
      assert.equal(await rows.count(), 1);

      // The list fits beside the form, its row's buttons in view, an event's name never cut across lines; the
      // form's events are a compact list (each checkbox took a text field's 36 px and padding: 46 px bands).
      const fit = await page.evaluate(() => {
        const wrap = document.querySelector('#webhooks-table')?.parentElement;
        const cell = document.querySelector('#webhooks-body .wh-events');
        const text = cell?.firstChild;
        const names = [...(text?.textContent ?? '').matchAll(/[^, ]+/g)].map((m) => {
          const range = document.createRange();
          range.setStart(text as Node, m.index);
          range.setEnd(text as Node, m.index + m[0].length);
          return range.getClientRects().length;
        });
        const checks = [...document.querySelectorAll('#wf-events .check')].map((c) => c.getBoundingClientRect().height);
        return {
          listOutOfView: wrap ? wrap.scrollWidth - wrap.clientWidth : null,
          linesPerEventName: [...new Set(names)],
          tallestCheck: Math.max(...checks) <= 24 ? 'at most 24 px' : `${Math.max(...checks)} px`,
        };
      });
      assert.deepEqual(fit, { listOutOfView: 0, linesPerEventName: [1], tallestCheck: 'at most 24 px' });
      // Pause: the state says so, here and in the API; resume.
      await page.getByRole('button', { name: 'Pause CRM' }).click();
      await row.locator('.badge[data-state="paused"]').waitFor();
      assert.equal((await getWebhook(id)).json().active, false);
      await page.getByRole('button', { name: 'Resume CRM' }).click();
      await row.locator('.badge[data-state="active"]').waitFor();
      assert.equal((await getWebhook(id)).json().active, true);

      // A failing target: the log shows the answer's status and body, and when it is tried again.
      receiver.setReply({ kind: 'status', status: 500, body: 'database is down, try later' });
      const [eventId] = await callEnded();
      await receiver.waitFor((r) => r.length === 1, 5000, 'the first attempt');
      await page.getByRole('link', { name: 'Open CRM' }).click();
      await page.locator('#webhook-detail').waitFor();
      assert.equal(await page.evaluate(() => location.hash), `#/webhooks/${id}`);
      const log = page.locator('#deliveries-body tr');
      const failed = log.filter({ has: page.locator('.badge[data-state="FAILED"]') });
      await failed.first().waitFor({ timeout: 8000 });
      assert.match(String(await failed.textContent()), /HTTP 500/);
      assert.match(String(await failed.textContent()), new RegExp(String(eventId)));
      const nextRetry = String(await failed.locator('.next-retry').textContent());
      assert.notEqual(nextRetry, '—', 'a retry is scheduled');
      const retryAt = Date.parse(nextRetry.replace(',', ''));
      assert.ok(retryAt > Date.now() + HOUR / 2, `next retry about an hour from now: ${nextRetry}`);
      // A network error's text (as a receiver that is down gives) wraps in its cell: Next retry, the bodies and
      // Replay stay in the card instead of behind a sideways scroll.
      const fits = await page.evaluate(() => {
        const cell = document.querySelector('#deliveries-body .wd-result');
        const wrap = document.querySelector('#deliveries-table')?.parentElement;
        if (!cell || !wrap) {
          return 'no log row';
        }
        cell.textContent = ' ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1 · 2 ms';
        cell.classList.remove('unbroken'); // as on a row without an HTTP status
        return wrap.scrollWidth <= wrap.clientWidth ? 'fits' : `${wrap.scrollWidth} > ${wrap.clientWidth}`;
      });
      assert.equal(fits, 'fits');
      await failed.getByText('Response and payload').click();
      assert.equal(await failed.locator('.response-body').textContent(), 'database is down, try later');
      const payload = JSON.parse(String(await failed.locator('.payload').textContent()));
      assert.equal(payload.eventId, eventId);
      assert.equal(payload.event, 'call.ended');

      // Replay to a receiver that answers 200 now: a new attempt 1 that succeeds, signed with the secret shown.
      receiver.ok();
      await failed.getByRole('button', { name: `Replay call.ended ${eventId}` }).click();
      await page.locator('#wd-summary').filter({ hasText: 'Replay of call.ended queued' }).waitFor();
      await receiver.waitFor((r) => r.length === 2, 5000, 'the replayed delivery');
      const succeeded = log.filter({ has: page.locator('.badge[data-state="SUCCESS"]') });
      await succeeded.first().waitFor({ timeout: 8000 });
      assert.match(String(await succeeded.textContent()), /HTTP 200/);
      assert.equal(await succeeded.locator('td').nth(2).textContent(), '1');
      assert.equal(await log.count(), 2);
      assert.equal(verifyWith(secret, receiver.requests[1] as never).eventId, eventId);
      // Each attempt's "HTTP 200 · 4 ms" reads on one line: it used to break inside ("HTTP 200 ·" / "4 ms").
      const lines = await log.locator('.wd-result').evaluateAll((spans) => spans.map((s) => s.getClientRects().length));
      assert.deepEqual(lines, [1, 1]);
      assert.equal(receiver.requests[1]?.headers['webhook-id'], eventId, 'the same webhook-id as the first try');
      // Nor on a webhook's page: under the title, and between the log's head and the log.
      assert.deepEqual(await bands(page, '#webhook-detail'), { underTitle: 16, underLogHead: 0 });
      await page.mouse.move(0, 0);
      await page.screenshot({ path: SCREENSHOT, animations: 'disabled', fullPage: true });

      // Rotate: a new secret, shown once; deliveries carry its signature.
      await page.getByRole('button', { name: 'Rotate the secret of CRM' }).click();
      await page.locator('#wh-secret-text').filter({ hasText: 'New signing secret of CRM' }).waitFor();
      const rotated = String(await page.locator('#wh-secret').textContent());
      assert.match(rotated, /^whsec_/);
      assert.notEqual(rotated, secret);
      await callEnded();
      await receiver.waitFor((r) => r.length === 3, 5000, 'a delivery after the rotation');
      assert.equal(verifyWith(rotated, receiver.requests[2] as never).event, 'call.ended');

      // A receiver answering 410 Gone disables the webhook: the page says so, and why; Resume turns it on again.
      receiver.status(410);
      await callEnded();
      await receiver.waitFor((r) => r.length === 4, 5000, 'the delivery answered 410');
      const stateBadge = page.locator('#wd-facts .badge');
      await page.locator('#wd-facts .badge[data-state="disabled"]').waitFor({ timeout: 8000 });
      assert.match(String(await stateBadge.getAttribute('title')), /410 Gone/);
      await page.getByRole('button', { name: 'Resume CRM' }).click();
      await page.locator('#wd-facts .badge[data-state="active"]').waitFor();
      assert.equal((await getWebhook(id)).json().disabledReason, null);

      // Delete, after the confirmation: back to the list, gone here and in the API.
      await page.getByRole('button', { name: 'Delete CRM' }).click();
      await page.locator('#webhooks-list').waitFor();
      await page.locator('#webhooks-summary').filter({ hasText: '1 webhook' }).waitFor();
      assert.equal(await rows.filter({ hasText: 'CRM' }).count(), 0);
      assert.equal(await rows.filter({ hasText: 'Billing' }).count(), 1);
      assert.equal(await page.evaluate(() => location.hash), '#/webhooks');
      assert.equal((await getWebhook(id)).statusCode, 404);

      // A link to a webhook that is not there says so, even straight from another webhook's page: nothing of
      // that one is left on it (its Delete button deleted it from here), and it is not "Loading…" for ever.
      await rows.filter({ hasText: 'Billing' }).getByRole('link').first().click();
      await page.getByRole('button', { name: 'Delete Billing' }).waitFor();
      await page.goto(`${t.baseUrl}/dashboard#/webhooks/${id}`);
      await page
        .locator('#wd-error')
        .filter({ hasText: `Webhook ${id} was not found.` })
        .waitFor();
      assert.equal(await page.locator('#wd-actions button').count(), 0);
      assert.equal(await page.locator('#wd-title').textContent(), id);
      assert.equal(await page.locator('#wd-facts').textContent(), '');
      assert.notEqual(await page.locator('#wd-summary').textContent(), 'Loading…');
      // Back to the Numbers page by its tab.
      await page.getByRole('link', { name: 'Numbers' }).click();
      await page.locator('#numbers-view').waitFor();
      assert.ok(await page.locator('#webhooks-view').isHidden());
      await context.close();
    } finally {
      await browser.close();
    }
    // Expected: the refused ftp:// URL (400), the deleted webhook's link (404), and what Chromium logs for them;
    // no 403: the tenant key's sign-in asks nothing that key is refused.
    const expected = /status of 40[04]|^HTTP 400: .*\/v1\/webhooks$|^HTTP 404: .*\/whk_/;
    assert.deepEqual(
      problems.filter((p) => !expected.test(p)),
      [],
    );
  });
});
