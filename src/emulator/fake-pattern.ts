import type { Rng } from './seeded-random.js';

/**
 * Strings that match a JSON Schema `pattern` (a JavaScript regular expression), for the patterns
 * schemas use in practice: literals, classes and ranges (`[a-z0-9-]`, `\d`, `\w`, `.`), groups,
 * alternation and quantifiers (`? * + {n} {n,} {n,m}`). Lookarounds and back-references are not
 * understood: `fakeMatch` then returns undefined and the caller keeps its own text.
 */
type Node =
  { kind: 'chars'; set: string } | { kind: 'seq'; items: Node[] } | { kind: 'alt'; options: Node[] } | { kind: 'repeat'; node: Node; min: number; max: number };

const DIGITS = '0123456789';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = LOWER.toUpperCase();
const WORD = `${LOWER}${UPPER}${DIGITS}_`;
const SPACE = ' ';
/** Printable ASCII: what `.` and negated classes choose from. */
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
/** How far open quantifiers (`*`, `+`, `{n,}`) go past their minimum. */
const OPEN_EXTRA = 4;

class Unsupported extends Error {}

class Parser {
  private i = 0;
  constructor(private readonly source: string) {}

  parse(): Node {
    const node = this.alternation();
    if (this.i < this.source.length) throw new Unsupported(`unexpected "${this.source[this.i] ?? ''}"`);
    return node;
  }

  private peek(): string | undefined {
    return this.source[this.i];
  }

  private alternation(): Node {
    const options = [this.sequence()];
    while (this.peek() === '|') {
      this.i++;
      options.push(this.sequence());
    }
    return options.length === 1 && options[0] ? options[0] : { kind: 'alt', options };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.i < this.source.length && this.peek() !== '|' && this.peek() !== ')') {
      const atom = this.atom();
      if (atom) items.push(this.quantified(atom));
    }
    return { kind: 'seq', items };
  }

  private atom(): Node | undefined {
    const ch = this.source[this.i++];
    switch (ch) {
      case '^':
      case '$':
        return undefined;
      case '.':
        return { kind: 'chars', set: PRINTABLE };
      case '[':
        return this.charClass();
      case '(': {
        if (this.peek() === '?') {
          if (this.source[this.i + 1] !== ':') throw new Unsupported('lookarounds and named groups');
          this.i += 2;
        }
        const inner = this.alternation();
        if (this.source[this.i++] !== ')') throw new Unsupported('unclosed group');
        return inner;
      }
      case '\\':
        return { kind: 'chars', set: this.escape(false) };
      case undefined:
        throw new Unsupported('unexpected end');
      default:
        if ('*+?'.includes(ch)) throw new Unsupported(`nothing to repeat before "${ch}"`);
        return { kind: 'chars', set: ch };
    }
  }

  /** The characters an escape stands for (inside a class, `\b` is a backspace we do not produce). */
  private escape(inClass: boolean): string {
    const ch = this.source[this.i++];
    switch (ch) {
      case 'd':
        return DIGITS;
      case 'w':
        return WORD;
      case 's':
        return SPACE;
      case 'D':
      case 'W':
      case 'S': {
        const excluded = ch === 'D' ? DIGITS : ch === 'W' ? WORD : ' \t\n\r';
        return [...PRINTABLE].filter((c) => !excluded.includes(c)).join('');
      }
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'u': {
        const hex = this.source.slice(this.i, this.i + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new Unsupported('\\u escape');
        this.i += 4;
        return String.fromCharCode(parseInt(hex, 16));
      }
      case 'x': {
        const hex = this.source.slice(this.i, this.i + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Unsupported('\\x escape');
        this.i += 2;
        return String.fromCharCode(parseInt(hex, 16));
      }
      case undefined:
        throw new Unsupported('trailing backslash');
      default:
        if (!inClass && (ch === 'b' || ch === 'B' || /[1-9]/.test(ch))) throw new Unsupported('word boundaries and back-references');
        if (/[a-zA-Z0-9]/.test(ch)) throw new Unsupported(`escape \\${ch}`);
        return ch;
    }
  }

  private charClass(): Node {
    const negated = this.peek() === '^';
    if (negated) this.i++;
    let set = '';
    while (this.peek() !== ']') {
      const ch = this.source[this.i++];
      if (ch === undefined) throw new Unsupported('unclosed class');
      const from = ch === '\\' ? this.escape(true) : ch;
      if (from.length === 1 && this.peek() === '-' && this.source[this.i + 1] !== ']' && this.source[this.i + 1] !== undefined) {
        this.i++;
        const endCh = this.source[this.i++] ?? '';
        const to = endCh === '\\' ? this.escape(true) : endCh;
        if (to.length !== 1 || to < from) throw new Unsupported('class range');
        for (let code = from.charCodeAt(0); code <= to.charCodeAt(0); code++) set += String.fromCharCode(code);
      } else {
        set += from;
      }
    }
    this.i++;
    if (negated) set = [...PRINTABLE].filter((c) => !set.includes(c)).join('');
    if (set === '') throw new Unsupported('empty class');
    return { kind: 'chars', set };
  }

  private quantified(node: Node): Node {
    let min = 1;
    let max = 1;
    const ch = this.peek();
    if (ch === '?') [min, max] = [0, 1];
    else if (ch === '*') [min, max] = [0, OPEN_EXTRA];
    else if (ch === '+') [min, max] = [1, 1 + OPEN_EXTRA];
    else if (ch === '{') {
      const match = /^\{(\d+)(,(\d*))?\}/.exec(this.source.slice(this.i));
      if (!match) return node;
      min = Number(match[1]);
      max = match[2] === undefined ? min : match[3] ? Number(match[3]) : min + OPEN_EXTRA;
      this.i += match[0].length - 1;
    } else return node;
    this.i++;
    if (this.peek() === '?') this.i++;
    return { kind: 'repeat', node, min, max };
  }
}

function produce(node: Node, rng: Rng, out: string[]): void {
  switch (node.kind) {
    case 'chars':
      out.push(rng.pick([...node.set]));
      return;
    case 'seq':
      for (const item of node.items) produce(item, rng, out);
      return;
    case 'alt':
      produce(rng.pick(node.options), rng, out);
      return;
    case 'repeat':
      for (let n = rng.int(node.min, node.max); n > 0; n--) produce(node.node, rng, out);
  }
}

const parsed = new Map<string, Node | null>();

/**
 * A string matching `pattern` (and `minLength`/`maxLength`, when some draw fits), checked with the
 * real RegExp; undefined when the pattern is beyond this generator or no draw fits.
 */
export function fakeMatch(pattern: string, rng: Rng, minLength = 0, maxLength = Infinity): string | undefined {
  let regex: RegExp;
  try {
    // Without flags, as JSON Schema validators (zod's among them) compile `pattern`.
    regex = new RegExp(pattern);
  } catch {
    return undefined;
  }
  if (!parsed.has(pattern)) {
    if (parsed.size >= 1000) parsed.clear();
    try {
      parsed.set(pattern, new Parser(pattern).parse());
    } catch (error) {
      if (!(error instanceof Unsupported)) throw error;
      parsed.set(pattern, null);
    }
  }
  const node = parsed.get(pattern);
  if (!node) return undefined;
  for (let attempt = 0; attempt < 24; attempt++) {
    const out: string[] = [];
    produce(node, rng, out);
    const text = out.join('');
    if (text.length >= minLength && text.length <= maxLength && regex.test(text)) return text;
  }
  return undefined;
}
