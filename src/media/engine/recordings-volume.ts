// Which RECORDINGS_DIR holds a recording, told apart across hosts: a random id kept in the directory, made with
// its first recording. Processes sharing the directory read the same id; a process whose RECORDINGS_DIR has
// another id (or none) is not where the recording is, however alike the paths (every host's default is
// ./data/recordings), so it must neither serve a missing file as gone nor mark a recording it cannot remove deleted.
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE = '.callgate-volume';
const known = new Map<string, string>();
/** What link() answers where the filesystem has no hard links. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);
/** An empty id file this old is no write under way (they take microseconds) but one a full disk cut short. */
const REPAIR_EMPTY_AFTER_MS = 60_000;
/** Settling files a repair tries in turn (each passed over only when a full disk left it empty): see settledId. */
const SETTLE_FILES = 8;

/** The directory's id; made when `create` and there is none. null: none, or the directory cannot be read. */
export function recordingsVolume(dir: string, create: boolean): string | null {
  const cached = known.get(dir);
  if (cached) {
    return cached;
  }
  const path = join(dir, FILE);
  const id = create ? (makeOnce(path) ?? repairEmpty(path)) : readId(path);
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
 * Makes an id file unless there is one; answers the id it holds. Written whole beside it, then linked in place:
 * a full disk used to leave an empty file that 'wx' then kept for good. The link is atomic and fails if another
 * process made it first, whose id then stays.
 */
function makeOnce(path: string): string | null {
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
    // There already, or the directory is unwritable or full and the recording fails anyway; the next recording
    // tries again.
  }
  try {
    rmSync(draft, { force: true });
  } catch {
    // No directory there (a file in its place): nothing was written.
  }
  return readId(path);
}

/**
 * Gives an id to a directory whose id file a full disk left empty (builds before the link above kept such a file
 * for good). The id is first settled in a second file that only one process can make: every repairer then writes
 * that same id in place, so two repairing at once cannot each keep its own. Nothing a process killed midway
 * leaves stops a later repair (a lock directory it held used to): the settled file stays and is used.
 */
function repairEmpty(path: string): string | null {
  if (!leftEmpty(path)) {
    return null; // no id to repair, a write still under way, or no file: the directory cannot be written
  }
  const id = settledId(path);
  if (!id) {
    return null; // the disk still full: tried again at the next recording
  }
  const draft = `${path}.${randomBytes(12).toString('hex')}`;
  try {
    writeFileSync(draft, `${id}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(draft, path);
    return id;
  } catch {
    return null;
  } finally {
    rmSync(draft, { force: true });
  }
}

/**
 * The id the repair settles on. Where there are no hard links the settling file is written in place, so a disk
 * that fills just then leaves it empty too, and it could never be made again: every repair stopped there. Such a
 * file is passed over for the next name, `.repaired.1` and on; every repairer walks the same names and passes over
 * the same files (empty and old), so all still settle on one id.
 */
function settledId(path: string): string | null {
  for (let i = 0; i < SETTLE_FILES; i++) {
    const settle = i === 0 ? `${path}.repaired` : `${path}.repaired.${i}`;
    const id = makeOnce(settle);
    if (id || !leftEmpty(settle)) {
      return id; // settled, or the disk still full or a write under way: tried again at the next recording
    }
  }
  return null;
}

/** Whether the file is empty and old enough to be no write under way (they take microseconds): a full disk's. */
function leftEmpty(path: string): boolean {
  try {
    const { size, mtimeMs } = statSync(path);
    return size === 0 && Date.now() - mtimeMs >= REPAIR_EMPTY_AFTER_MS;
  } catch {
    return false;
  }
}
