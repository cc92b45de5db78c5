// Which RECORDINGS_DIR holds a recording, told apart across hosts: a random id kept in the directory, made with
// its first recording. Processes sharing the directory read the same id; a process whose RECORDINGS_DIR has
// another id (or none) is not where the recording is, however alike the paths (every host's default is
// ./data/recordings), so it must neither serve a missing file as gone nor mark a recording it cannot remove deleted.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE = '.callgate-volume';
const known = new Map<string, string>();

/** The directory's id; made when `create` and there is none. null: none, or the directory cannot be read. */
export function recordingsVolume(dir: string, create: boolean): string | null {
  const cached = known.get(dir);
  if (cached) {
    return cached;
  }
  const path = join(dir, FILE);
  if (create) {
    try {
      writeFileSync(path, `vol_${randomBytes(12).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch {
      // There already (another process made it first: 'wx' keeps its id), or the directory is unwritable and the
      // recording fails anyway.
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
