// Which RECORDINGS_DIR holds a recording, told apart across hosts: a random id kept in the directory, made with
// its first recording. Processes sharing the directory read the same id; a process whose RECORDINGS_DIR has
// another id (or none) is not where the recording is, however alike the paths (every host's default is
// ./data/recordings), so it must neither serve a missing file as gone nor mark a recording it cannot remove deleted.
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE = '.callgate-volume';
const known = new Map<string, string>();
/** What link() answers where the filesystem has no hard links. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

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
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (id) {
      known.set(dir, id);
      return id;
    }
  } catch {
    // none here
  }
  return null;
}
