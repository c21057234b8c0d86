import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function mount(args: string[]): boolean {
  try {
    execFileSync('mount', args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    // Not mounted (the mount failed, or was already undone).
  }
}

/**
 * Whether this machine lets the tests mount (root in a container that allows it; CI may not).
 * Probed once, synchronously, so that `it.skipIf(!canMount)` can decide at collection time.
 */
export const canMount: boolean = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'genbatch-mount-probe-'));
  try {
    const ok = mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    if (ok) unmount(dir);
    return ok;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

/** Unmounts a tmpfs made by mountTmpfs and removes its (then empty) mount point. */
export function unmountTmpfs(dir: string): void {
  unmount(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** A fresh tmpfs (another file system than the temp folder's) of `size` (e.g. "32m"); unmountTmpfs it after use. */
export function mountTmpfs(size: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'genbatch-tmpfs-'));
  if (!mount(['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir])) throw new Error(`cannot mount a tmpfs on ${dir}`);
  return dir;
}

/** Makes `dir` read-only in place (a read-only bind mount over itself); undo with unmount(dir). */
export function bindReadOnly(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (!mount(['--bind', dir, dir])) throw new Error(`cannot bind-mount ${dir}`);
  if (!mount(['-o', 'remount,ro,bind', dir])) {
    unmount(dir);
    throw new Error(`cannot remount ${dir} read-only`);
  }
}

/** Sets or clears the immutable attribute (`chattr +i`): even root cannot write the file then. */
export function setImmutable(file: string, on: boolean): boolean {
  try {
    execFileSync('chattr', [on ? '+i' : '-i', file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Whether the temp folder's file system supports `chattr +i` (ext4 does, tmpfs and overlays may not). */
export const canMakeImmutable: boolean = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'genbatch-chattr-probe-'));
  try {
    const file = join(dir, 'probe');
    writeFileSync(file, 'x');
    const ok = setImmutable(file, true);
    if (ok) setImmutable(file, false);
    return ok;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();
