// Which RECORDINGS_DIR holds a recording, told apart across hosts: a random id kept in the directory, made with
// its first recording. Processes sharing the directory read the same id; a process whose RECORDINGS_DIR has
// another id (or none) is not where the recording is, however alike the paths (every host's default is
// ./data/recordings), so it must neither serve a missing file as gone nor mark a recording it cannot remove deleted.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE = '.callgate-volume';
const known = new Map<string, string>();
/** What link() answers where the filesystem has no hard links. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);
/** An empty id file this old is no write under way (they take microseconds) but one a full disk cut short. */
const REPAIR_EMPTY_AFTER_MS = 60_000;

/** The directory's id; made when `create` and there is none. null: none, or the directory cannot be read. */
export function recordingsVolume(dir: string, create: boolean): string | null {
  const cached = known.get(dir);
  if (cached) {
    return cached;
  }
  const path = join(dir, FILE);
  if (create) {
    // Written whole beside it, then linked in place: a full disk used to leave an empty file that 'wx' then kept
    // for good, so the directory never got its id. The link is atomic and fails if another process made it first.
    const id = `vol_${randomBytes(12).toString('hex')}`;
    const draft = `${path}.${id}`;
    try {
      writeFileSync(draft, `${id}\n`, { mode: 0o600, flag: 'wx' });
      try {
        linkSync(draft, path);
      } catch (error) {
        // A filesystem without hard links (FAT, exFAT, some network or object-store mounts) refuses every link:
        // there the id is written in place, first writer wins, as it was before links.
        if (!NO_LINKS.has((error as NodeJS.ErrnoException).code ?? '')) {
          throw error;
        }
        writeFileSync(path, `${id}\n`, { mode: 0o600, flag: 'wx' });
      }
    } catch {
      // There already (another process made it first: its id stays), or the directory is unwritable or full and
      // the recording fails anyway; the next recording tries again.
    }
    try {
      rmSync(draft, { force: true });
    } catch {
      // No directory there (a file in its place): nothing was written.
    }
  }
  const id = readId(path) ?? (create && repairEmpty(path) ? readId(path) : null);
  if (id) {
    known.set(dir, id);
  }
  return id;
}

function readId(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim() || null;
  } catch {
    return null; // none here
  }
}

/**
 * Gives an id to a directory whose id file a full disk left empty (builds before the link above kept such a file
 * for good). One process at a time, by a lock directory: two repairing at once could each read back its own id.
 * A lock left by a process that died keeps it from repairing again, which is no worse than the empty file.
 */
function repairEmpty(path: string): boolean {
  const lock = `${path}.repair`;
  try {
    const { size, mtimeMs } = statSync(path);
    if (size !== 0 || Date.now() - mtimeMs < REPAIR_EMPTY_AFTER_MS) {
      return false;
    }
    mkdirSync(lock);
  } catch {
    return false; // no file, still being written, or another process repairs it
  }
  const id = `vol_${randomBytes(12).toString('hex')}`;
  const draft = `${path}.${id}`;
  try {
    if (statSync(path).size !== 0) {
      return true; // repaired meanwhile
    }
    writeFileSync(draft, `${id}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(draft, path);
    return true;
  } catch {
    return false; // the disk still full: tried again at the next recording
  } finally {
    rmSync(draft, { force: true });
    try {
      rmdirSync(lock);
    } catch {
      // Removed by hand meanwhile: nothing to release.
    }
  }
}
