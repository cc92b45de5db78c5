// How many transactions SQLite has committed into a WAL file since the log was last reset, read from the file
// itself (sqlite.org/fileformat.html, "WAL File Format"): each commit ends with one frame whose header carries the
// database size after it, and only frames with the header's salts belong to the current log.
import { readFileSync } from 'node:fs';

const WAL_HEADER = 32;
const FRAME_HEADER = 24;

export function countWalCommits(walPath: string): number {
  let wal: Buffer;
  try {
    wal = readFileSync(walPath);
  } catch {
    return 0; // no log yet: nothing committed through it
  }
  if (wal.length < WAL_HEADER) {
    return 0;
  }
  const pageSize = wal.readUInt32BE(8);
  const salt1 = wal.readUInt32BE(16);
  const salt2 = wal.readUInt32BE(20);
  let commits = 0;
  for (let at = WAL_HEADER; at + FRAME_HEADER + pageSize <= wal.length; at += FRAME_HEADER + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) {
      break; // a frame left over from before the log was reset
    }
    if (wal.readUInt32BE(at + 4) !== 0) {
      commits += 1;
    }
  }
  return commits;
}
