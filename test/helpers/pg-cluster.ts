// A throwaway PostgreSQL cluster in a directory the test chooses (a tmpfs it fills up, say), reachable only on a
// Unix socket so it takes no TCP port. Runs as the postgres user when we are root, as scripts/pg-local.sh does.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface PgCluster {
  /** Admin URL (a role that may CREATE DATABASE). */
  url: string;
  stop(): void;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(a) - Number(b)) : [];
  const dir = versions.length ? join(root, versions.at(-1) ?? '', 'bin') : '';
  if (!dir || !existsSync(join(dir, 'initdb'))) {
    throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
  }
  return dir;
}

function asPostgres(cmd: string, args: string[]): void {
  const asRoot = process.getuid?.() === 0;
  execFileSync(asRoot ? 'runuser' : cmd, asRoot ? ['-u', 'postgres', '--', cmd, ...args] : args, { stdio: 'ignore' });
}

/** initdb + start in `dir` (which the postgres user must own); small WAL segments so a small disk suffices. */
export function startPgCluster(dir: string): PgCluster {
  const bin = binDir();
  const data = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  mkdirSync(socketDir, { recursive: true });
  if (process.getuid?.() === 0) {
    execFileSync('chown', ['postgres', socketDir]);
  }
  asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--wal-segsize=1']);
  const options = [
    `-k ${socketDir}`,
    "-c listen_addresses=''",
    '-c fsync=off',
    '-c min_wal_size=2MB',
    '-c max_wal_size=4MB',
    '-c shared_buffers=8MB',
    // A crashed backend (a PANIC on a full WAL) restarts the cluster, which then recovers by itself.
    '-c restart_after_crash=on',
  ].join(' ');
  asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', 'start']);
  return {
    url: `postgres://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}`,
    stop() {
      try {
        asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already down
      }
    },
  };
}
