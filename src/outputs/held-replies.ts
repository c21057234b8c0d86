import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProviderResult } from '../providers/provider.js';

/** A reply as kept on disk: media bytes in base64. */
interface HeldReply {
  itemId: string;
  step: string;
  result: Omit<ProviderResult, 'media'> & { media?: { mimeType: string; data: string; uri?: string }[] };
}

/** Whether an error means the disk is full (or the user's quota on it is used up). */
export function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * Paid replies whose outputs could not be written because the disk was full. Each is kept beside
 * the state file (usually another disk than the outputs) until a later run writes its outputs,
 * so freeing space and resuming never pays for the same reply twice.
 */
export class HeldReplies {
  private readonly keys: Set<string>;

  constructor(private readonly dir: string) {
    this.keys = new Set(existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.json')) : []);
  }

  private static fileName(itemId: string, step: string): string {
    return `${createHash('sha256').update(itemId).update('\0').update(step).digest('hex').slice(0, 32)}.json`;
  }

  get size(): number {
    return this.keys.size;
  }

  has(itemId: string, step: string): boolean {
    return this.keys.size > 0 && this.keys.has(HeldReplies.fileName(itemId, step));
  }

  /** Keeps a reply (written whole or not at all); throws when even that cannot be written. */
  async keep(itemId: string, step: string, result: ProviderResult): Promise<void> {
    const name = HeldReplies.fileName(itemId, step);
    const { media, ...rest } = result;
    const held: HeldReply = { itemId, step, result: { ...rest, ...(media ? { media: media.map((m) => ({ ...m, data: m.data.toString('base64') })) } : {}) } };
    await mkdir(this.dir, { recursive: true });
    const temp = join(this.dir, `${name}.${process.pid}.tmp`);
    await writeFile(temp, JSON.stringify(held));
    await rename(temp, join(this.dir, name));
    this.keys.add(name);
  }

  /** The kept reply of a unit, if any. */
  take(itemId: string, step: string): ProviderResult | undefined {
    // Asked before every call: with nothing held (the usual case) no file name is hashed.
    if (this.keys.size === 0) return undefined;
    const name = HeldReplies.fileName(itemId, step);
    if (!this.keys.has(name)) return undefined;
    const held = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as HeldReply;
    const { media, ...rest } = held.result;
    return { ...rest, ...(media ? { media: media.map((m) => ({ ...m, data: Buffer.from(m.data, 'base64') })) } : {}) };
  }

  /** The unit's outputs are written: its kept reply goes. */
  release(itemId: string, step: string): void {
    if (this.keys.size === 0) return;
    const name = HeldReplies.fileName(itemId, step);
    if (!this.keys.delete(name)) return;
    rmSync(join(this.dir, name), { force: true });
  }
}
