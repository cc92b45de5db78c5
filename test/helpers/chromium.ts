// Headless Chromium (Debian's package, driven by playwright-core) for the dashboard suites: the launch flags this
// closed network needs, a light 1280-wide page in UTC, and a list of what went wrong inside it (CSP violations,
// script errors, failed loads, HTTP errors) for the test to compare with what it expected.
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { chromiumPath } from './requirements.ts';

/** No network beyond loopback: nothing in the background, no QUIC, no GPU. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

export function newDashboardContext(browser: Browser, permissions: string[] = []): Promise<BrowserContext> {
  return browser.newContext({
    viewport: { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    locale: 'en-GB',
    timezoneId: 'UTC',
    colorScheme: 'light',
    permissions,
  });
}

/** Records every console error or warning, page error, failed request and HTTP status ≥ 400 of `page`. */
export function watchProblems(page: Page, problems: string[]): void {
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      problems.push(`console.${m.type()}: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // Sign-out/close aborts the open stream on purpose.
    if (!r.url().includes('/v1/events/stream')) {
      problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
    }
  });
  page.on('response', (r) => {
    if (r.status() >= 400) {
      problems.push(`HTTP ${r.status()}: ${r.url()}`);
    }
  });
}

/** Opens the dashboard and signs in with `key`, as a user types it. */
export async function signInToDashboard(page: Page, baseUrl: string, key: string): Promise<void> {
  await page.goto(`${baseUrl}/dashboard`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Open dashboard' }).click();
}

/** A fresh context and page whose problems are recorded into `problems`. */
export async function newWatchedPage(
  browser: Browser,
  problems: string[],
  permissions: string[] = [],
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await newDashboardContext(browser, permissions);
  const page = await context.newPage();
  watchProblems(page, problems);
  return { context, page };
}
