// A small tmpfs the test can fill up and free again: a disk that is really full, for the store's files.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Writes a ballast file until the file system has no space left. */
  fill(): void;
  /** Deletes the ballast: space returns. */
  free(): void;
  unmount(): void;
}

export function mountTmpfs(sizeMb: number, owner?: string): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'callgate-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0777`, 'tmpfs', dir]);
  if (owner) {
    execFileSync('chown', [owner, dir]);
  }
  const ballast = join(dir, 'ballast');
  return {
    dir,
    fill() {
      const fd = openSync(ballast, 'a');
      const chunk = Buffer.alloc(64 * 1024);
      try {
        for (;;) {
          writeSync(fd, chunk);
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') {
          throw error;
        }
      } finally {
        closeSync(fd);
      }
      // What the 64 KiB chunks left: fill it in small writes so not even a page stays free.
      const tail = openSync(ballast, 'a');
      try {
        for (;;) {
          writeSync(tail, Buffer.alloc(512));
        }
      } catch {
        // ENOSPC: full
      } finally {
        closeSync(tail);
      }
    },
    free() {
      rmSync(ballast, { force: true });
    },
    unmount() {
      execFileSync('umount', ['-l', dir]);
      rmdirSync(dir);
    },
  };
}
