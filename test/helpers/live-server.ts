// A real callgate server process for SDK and CLI tests: a temp DATA_DIR (embedded store), a Meta fake wired
// both ways, and a tenant made the way an operator makes one (`callgate tenants create`, a child process).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type FakeMeta, type FakeMetaNumber, startFakeMeta } from '../fakes/meta-graph.ts';
import { type ServerProcess, startServerProcess } from './server-process.ts';

const ROOT = join(import.meta.dirname, '../..');
const run = promisify(execFile);

export interface IssuedKey {
  id: string;
  key: string;
}

export interface LiveServer {
  url: string;
  process: ServerProcess;
  fake: FakeMeta;
  /** Environment of the server; a CLI child given it opens the same store. */
  env: Record<string, string>;
  tenantId: string;
  tenantKey: IssuedKey;
  /** Meta numbers the fake knows; register them with numbers.create. */
  metaNumbers: FakeMetaNumber[];
  /** The body of POST /v1/numbers for metaNumbers[i]. */
  numberInput(
    i: number,
    name?: string,
  ): {
    name: string;
    phoneNumber: string;
    provider: 'META';
    meta: { phoneNumberId: string; wabaId: string; accessToken: string; appSecret: string; verifyToken: string };
  };
  /** A user calls metaNumbers[i]; resolves with the call once the server has stored it (read with `key`). */
  incomingCall(
    i: number,
    key: string,
    from?: string,
  ): Promise<{ id: string; externalCallId: string; createdAt: string; status: string }>;
  close(): Promise<void>;
}

let peer = 0;
export const nextPeer = () => `5511${970_000_000 + (process.pid % 1000) * 1000 + ++peer}`;

/** Runs `node src/cli/main.ts ...args` with `env` and returns its output (throws on a non-zero exit). */
export async function callgateCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
}

export async function startLiveServer(
  opts: { env?: Record<string, string>; numbers?: number; tag?: string } = {},
): Promise<LiveServer> {
  const tag = opts.tag ?? String(process.pid % 1000).padStart(3, '0');
  const metaNumbers: FakeMetaNumber[] = Array.from({ length: opts.numbers ?? 2 }, (_, i) => ({
    phoneNumberId: `1102${tag}${String(i).padStart(5, '0')}`,
    displayPhoneNumber: `55114${tag}${String(i).padStart(3, '0')}`,
    wabaId: `1022${tag}${String(i).padStart(5, '0')}`,
    accessToken: `EAAG-live-${i}`,
    appSecret: `app-secret-live-${i}`,
  }));
  const dataDir = mkdtempSync(join(tmpdir(), 'callgate-live-'));
  const fake = await startFakeMeta({ numbers: metaNumbers, webhookRetryScheduleMs: [0, 50, 200] });
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    META_GRAPH_BASE_URL: fake.baseUrl,
    WEBHOOK_ALLOW_INSECURE_URLS: 'true',
    WEBHOOK_RETRY_SCHEDULE_MS: '0,100,200',
    PROVIDER_TIMEOUT_MS: '2000',
    ...opts.env,
  };
  let server: ServerProcess;
  try {
    server = await startServerProcess(env);
  } catch (error) {
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  fake.setWebhookUrl(`${server.url}/providers/meta/webhook`);
  const { stdout } = await callgateCli(['tenants', 'create', '--name', 'Live Tenant'], env);
  const tenant = JSON.parse(stdout) as { tenantId: string; apiKey: IssuedKey };

  return {
    url: server.url,
    process: server,
    fake,
    env,
    tenantId: tenant.tenantId,
    tenantKey: tenant.apiKey,
    metaNumbers,
    numberInput(i, name = `Live ${i}`) {
      const n = metaNumbers[i]!;
      return {
        name,
        phoneNumber: `+${n.displayPhoneNumber}`,
        provider: 'META',
        meta: {
          phoneNumberId: n.phoneNumberId,
          wabaId: n.wabaId,
          accessToken: n.accessToken,
          appSecret: n.appSecret,
          verifyToken: `vt-${i}`,
        },
      };
    },
    async incomingCall(i, key, from = nextPeer()) {
      const wacid = await fake.incomingCall({ phoneNumberId: metaNumbers[i]!.phoneNumberId, from });
      const deadline = Date.now() + 5000;
      for (;;) {
        const res = await fetch(`${server.url}/v1/calls/${encodeURIComponent(wacid)}`, {
          headers: { 'x-api-key': key },
        });
        if (res.status === 200) {
          return res.json();
        }
        if (Date.now() > deadline) {
          throw new Error(`call ${wacid} was not stored: ${res.status} ${await res.text()}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      await server.stop();
      await fake.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
