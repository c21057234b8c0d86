import { readFileSync, statSync } from 'node:fs';

/**
 * Which other processes hold SQLite locks on a state file, read from Linux's /proc/locks (SQLite
 * takes POSIX fcntl locks, which name their process). In WAL mode the locks live on bytes of the
 * `-shm` file: byte 120 is the write lock, bytes 123..127 the read marks of open read transactions
 * (a reader on marks 1..4 pins the WAL, and no checkpoint can go past it). Elsewhere than Linux, or
 * when /proc is not readable, nothing is known and the lists are empty.
 */
export interface LockHolders {
  /** Processes holding the write lock (at most one, in practice). */
  writers: number[];
  /** Processes holding an open read transaction on the WAL (checkpoints cannot go past them). */
  readers: number[];
}

const WAL_WRITE_LOCK = 120;
/** Read mark 0 reads the database file alone; marks 1..4 read through the WAL. */
const WAL_READ_MARKS: readonly [number, number] = [124, 127];

/** The kernel's "major:minor" of a stat's dev (the new_encode_dev layout), as /proc/locks prints it. */
function deviceId(dev: number): string {
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

export function lockHolders(stateFile: string, self: number = process.pid): LockHolders {
  const found: LockHolders = { writers: [], readers: [] };
  let text: string;
  let id: string;
  let inode: string;
  try {
    const shm = statSync(`${stateFile}-shm`);
    inode = String(shm.ino);
    id = `${deviceId(shm.dev)}:${inode}`;
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return found;
  }
  // "1: POSIX  ADVISORY  WRITE 12413 fe:00:2312722 120 120" (a "->" line is a waiter: skipped).
  const entries = text.split('\n').map((line) => line.trim().split(/\s+/));
  const exact = entries.filter((fields) => fields[1] === 'POSIX' && fields[5] === id);
  // Some file systems (btrfs subvolumes, overlays) show another device number than stat's: the inode alone then.
  const matched = exact.length > 0 ? exact : entries.filter((fields) => fields[1] === 'POSIX' && fields[5]?.split(':')[2] === inode);
  for (const fields of matched) {
    const pid = Number(fields[4]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === self) continue;
    const start = Number(fields[6]);
    const end = fields[7] === 'EOF' ? Infinity : Number(fields[7]);
    const covers = (from: number, to: number): boolean => start <= to && end >= from;
    if (fields[3] === 'WRITE' && covers(WAL_WRITE_LOCK, WAL_WRITE_LOCK) && !found.writers.includes(pid)) found.writers.push(pid);
    if (fields[3] === 'READ' && covers(...WAL_READ_MARKS) && !found.readers.includes(pid)) found.readers.push(pid);
  }
  return found;
}

/** "pid 123 (sqlite3)": a process as a person can find it in `ps`. */
export function describeProcess(pid: number): string {
  try {
    return `pid ${pid} (${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()})`;
  } catch {
    return `pid ${pid}`;
  }
}
