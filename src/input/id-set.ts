/**
 * The ids seen in an input, for duplicate detection over millions of rows in bounded memory: each id
 * is kept as a 64-bit hash (two independent 32-bit FNV-1a style hashes) in typed arrays, 8 bytes a
 * slot, not as a string in a Map (about 100 bytes an entry).
 *
 * A hash already present means a duplicate almost surely (two different ids share a 64-bit hash
 * about once in 10^7 inputs of a million rows); the caller confirms it, and finds the line of the
 * first occurrence, by reading the input again: only inputs with duplicates (an error) pay for that.
 */
export class IdSet {
  private capacity = 1 << 16;
  private size = 0;
  private lo = new Uint32Array(this.capacity);
  private hi = new Uint32Array(this.capacity);

  /** Adds an id; false when an id with the same hash was added before (a duplicate, almost surely). */
  add(id: string): boolean {
    let a = 0x811c9dc5;
    let b = 0x9e3779b9;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    a >>>= 0;
    // (0, 0) marks a free slot: an id hashing to it is stored as (0, 1).
    b = (b ^ id.length) >>> 0 || (a === 0 ? 1 : 0);
    const slot = this.find(a, b);
    if (this.lo[slot] !== 0 || this.hi[slot] !== 0) return false;
    this.lo[slot] = a;
    this.hi[slot] = b;
    this.size += 1;
    if (this.size * 2 > this.capacity) this.grow();
    return true;
  }

  private find(a: number, b: number): number {
    const mask = this.capacity - 1;
    let slot = (a ^ Math.imul(b, 0x27d4eb2d)) & mask;
    for (;;) {
      const lo = this.lo[slot]!;
      const hi = this.hi[slot]!;
      if ((lo === 0 && hi === 0) || (lo === a && hi === b)) return slot;
      slot = (slot + 1) & mask;
    }
  }

  private grow(): void {
    const { lo, hi } = this;
    this.capacity *= 2;
    this.lo = new Uint32Array(this.capacity);
    this.hi = new Uint32Array(this.capacity);
    for (let i = 0; i < lo.length; i++) {
      if (lo[i] === 0 && hi[i] === 0) continue;
      const slot = this.find(lo[i]!, hi[i]!);
      this.lo[slot] = lo[i]!;
      this.hi[slot] = hi[i]!;
    }
  }
}
