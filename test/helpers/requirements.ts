// Suites that need Chromium, PostgreSQL, Redis or tmpfs mounts (root) run when it is there and otherwise say so in one
// line, so a fresh clone is green with `npm ci && npm test`. CI sets CALLGATE_TEST_REQUIRE=all, which turns "not
// there" into a failure: CI never silently skips. `all` means chromium, postgres and redis; tmpfs needs mount
// rights a CI runner may lack, so it is demanded only when named (`all,tmpfs`), by a runner that checked it can.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Requirement = 'chromium' | 'postgres' | 'redis' | 'tmpfs';

const HOW: Record<Requirement, string> = {
  chromium: 'no Chromium — install chromium or set CHROMIUM_PATH',
  postgres: 'no PostgreSQL — set TEST_DATABASE_URL to a role that may CREATE DATABASE',
  redis: 'no Redis — set TEST_REDIS_URL',
  tmpfs: 'cannot mount a tmpfs (the disk-full suites need root)',
};

export function required(): Set<string> {
  const value = process.env.CALLGATE_TEST_REQUIRE ?? '';
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return new Set(
    names.includes('all') ? [...names.filter((n) => n !== 'all'), 'chromium', 'postgres', 'redis'] : names,
  );
}

function isAvailable(what: Requirement): boolean {
  if (what === 'chromium') {
    return existsSync(chromiumPath());
  }
  if (what === 'postgres') {
    return Boolean(process.env.TEST_DATABASE_URL);
  }
  if (what === 'tmpfs') {
    return canMountTmpfs();
  }
  return Boolean(process.env.TEST_REDIS_URL);
}

/** Tries it: root in a container may still be refused mounts. */
function canMountTmpfs(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'callgate-tmpfs-check-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmdirSync(dir);
  }
}

export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
}

/**
 * `false` when the suite can run; otherwise the one-line reason to pass as node:test's `skip`.
 * Throws when CALLGATE_TEST_REQUIRE demands what is missing.
 */
export function missing(...needs: Requirement[]): false | string {
  const absent = needs.filter((n) => !isAvailable(n));
  if (absent.length === 0) {
    return false;
  }
  const reason = `skipped: ${absent.map((n) => HOW[n]).join('; ')}`;
  const demanded = absent.filter((n) => required().has(n));
  if (demanded.length > 0) {
    throw new Error(`CALLGATE_TEST_REQUIRE demands ${demanded.join(', ')}: ${reason}`);
  }
  return reason;
}
