/** Where the first byte that is not UTF-8 sits: 1-based line (as an editor counts), 0-based byte offset. */
export interface BadByte {
  line: number;
  offset: number;
  byte: number;
}

/**
 * A streaming UTF-8 check that remembers where it is. TextDecoder's `fatal` mode only says "invalid",
 * and a person needs the line to find the byte; this walks the bytes once with the same rules as the
 * WHATWG decoder (no overlongs, no surrogates, nothing above U+10FFFF) and counts line breaks
 * (LF, CRLF and CR each end one line) on the way.
 */
export class Utf8Validator {
  private offset = 0;
  private line = 1;
  private previousWasCr = false;
  /** Continuation bytes still expected for the current sequence, and the range the next one must be in. */
  private needed = 0;
  private lower = 0x80;
  private upper = 0xbf;
  private sequenceOffset = 0;
  private sequenceLine = 1;
  private sequenceByte = 0;

  /** Checks the next bytes of the file; returns the first bad byte, if any. */
  push(bytes: Uint8Array): BadByte | undefined {
    for (let i = 0; i < bytes.length; i++, this.offset++) {
      const b = bytes[i]!;
      if (this.needed === 0) {
        if (b < 0x80) {
          if (b === 0x0a) {
            if (!this.previousWasCr) this.line++;
            this.previousWasCr = false;
          } else if (b === 0x0d) {
            this.line++;
            this.previousWasCr = true;
          } else {
            this.previousWasCr = false;
          }
          continue;
        }
        this.previousWasCr = false;
        this.sequenceOffset = this.offset;
        this.sequenceLine = this.line;
        this.sequenceByte = b;
        if (b >= 0xc2 && b <= 0xdf) {
          this.needed = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          this.needed = 2;
          if (b === 0xe0) this.lower = 0xa0;
          if (b === 0xed) this.upper = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          this.needed = 3;
          if (b === 0xf0) this.lower = 0x90;
          if (b === 0xf4) this.upper = 0x8f;
        } else {
          return this.bad();
        }
        continue;
      }
      if (b < this.lower || b > this.upper) return this.bad();
      this.lower = 0x80;
      this.upper = 0xbf;
      this.needed--;
    }
    return undefined;
  }

  /** Call at the end of the file: a sequence cut short by the end is invalid too. */
  end(): BadByte | undefined {
    return this.needed > 0 ? this.bad() : undefined;
  }

  // The lead byte of the broken sequence is reported: that is where the odd character starts.
  private bad(): BadByte {
    return { line: this.sequenceLine, offset: this.sequenceOffset, byte: this.sequenceByte };
  }
}
