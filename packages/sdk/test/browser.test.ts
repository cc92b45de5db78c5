// The SDK in a real browser (headless Chromium): its source, compiled by TypeScript file by file, served as
// ES modules from the same origin as a server process (a proxy in front of it, so no CORS is involved). The page
// lists numbers, hangs up a call, reads the live stream and verifies a server-signed webhook with WebCrypto.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import ts from 'typescript';
import { generateWebhookSecret, signPayload } from '../../../src/webhooks/signing.ts';
import { type IssuedKey, type LiveServer, startLiveServer } from '../../../test/helpers/live-server.ts';
import { chromiumPath, missing } from '../../../test/helpers/requirements.ts';
import { Callgate } from '../src/index.ts';

const CHROMIUM = chromiumPath();
const SDK_SRC = join(import.meta.dirname, '../src');

/** Serves /sdk/*.ts as JavaScript (compiled), /page as an empty page, and proxies the rest to the API. */
async function startOrigin(api: string): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(api);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/page') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>sdk</title>');
      return;
    }
    if (path.startsWith('/sdk/')) {
      const file = normalize(join(SDK_SRC, path.slice('/sdk/'.length)));
      if (!file.startsWith(SDK_SRC) || !file.endsWith('.ts') || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      const compilerOptions = {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        verbatimModuleSyntax: true,
      };
      res.end(ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions, fileName: file }).outputText);
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('the SDK in headless Chromium', () => {
  let live: LiveServer;
  let origin: { url: string; close(): Promise<void> };
  let key: IssuedKey;

  before(async () => {
    live = await startLiveServer();
    origin = await startOrigin(live.url);
    key = (await new Callgate({ baseUrl: live.url, apiKey: live.tenantKey.key }).numbers.create(live.numberInput(0)))
      .apiKey;
  });
  after(async () => {
    await origin.close();
    await live.close();
  });

  test('calls the API, streams events and verifies a webhook with browser APIs only', {
    timeout: 60_000,
    skip: missing('chromium'),
  }, async () => {
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu'],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`${origin.url}/page`);

      const call = await live.incomingCall(0, key.key);
      const secret = generateWebhookSecret();
      const body = JSON.stringify({ event: 'call.ended', eventId: 'evt_browser', id: call.id, note: 'João — 📞' });
      const ts = Math.floor(Date.now() / 1000);
      const signature = signPayload([secret], 'evt_browser', ts, body);
      const theirs = new Webhook(secret).sign('msg_theirs', new Date(ts * 1000), body);

      const result = await page.evaluate(
        async ({ apiKey, callId, secret, body, ts, signature, theirs }) => {
          const { Callgate, CallgateError, verifyWebhook } = await import('/sdk/index.ts' as string);
          const client = new Callgate({ baseUrl: location.origin, apiKey });
          let opened!: () => void;
          const open = new Promise<void>((resolve) => {
            opened = resolve;
          });
          const stream = client.events.stream({ onOpen: () => opened() });
          const events: string[] = [];
          const reading = (async () => {
            for await (const e of stream) {
              events.push(`${e.event}:${e.data.id}`);
              if (e.event === 'call.ended') {
                break;
              }
            }
          })();
          await open;
          const page = await client.calls.list({ limit: 5 });
          const terminated = await client.calls.terminate(callId);
          await reading;
          let notFound = '';
          try {
            await client.calls.get('call_missing');
          } catch (e) {
            const error = e as { status: number; code: string; requestId: string | null };
            notFound =
              e instanceof CallgateError
                ? `${error.status} ${error.code} ${error.requestId ? 'with id' : ''}`
                : String(e);
          }
          const ours = await verifyWebhook(
            body,
            { 'webhook-id': 'evt_browser', 'webhook-timestamp': String(ts), 'webhook-signature': signature },
            secret,
          );
          const fromLibrary = await verifyWebhook(
            new TextEncoder().encode(body),
            new Headers({ 'webhook-id': 'msg_theirs', 'webhook-timestamp': String(ts), 'webhook-signature': theirs }),
            secret,
          );
          let tampered = '';
          try {
            await verifyWebhook(
              `${body} `,
              { 'webhook-id': 'evt_browser', 'webhook-timestamp': String(ts), 'webhook-signature': signature },
              secret,
            );
          } catch (e) {
            tampered = (e as Error).name;
          }
          return {
            listed: page.calls.map((c: { id: string }) => c.id),
            terminated: terminated.status,
            events,
            notFound,
            ours: ours.note,
            fromLibrary: fromLibrary.id,
            tampered,
          };
        },
        { apiKey: key.key, callId: call.id, secret, body, ts, signature, theirs },
      );

      assert.deepEqual(problems, []);
      assert.deepEqual(result.listed, [call.id]);
      assert.equal(result.terminated, 'COMPLETED');
      assert.deepEqual(result.events, [`call.ended:${call.id}`]);
      assert.equal(result.notFound, '404 CALL_NOT_FOUND with id');
      assert.equal(result.ours, 'João — 📞');
      assert.equal(result.fromLibrary, call.id);
      assert.equal(result.tampered, 'WebhookVerificationError');
    } finally {
      await browser.close();
    }
  });
});
