import { resolve, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/config-error.js';
import { resolveOutputPath } from '../../src/outputs/output-path.js';

const DIR = resolve('/srv/jobs/out');

/** What resolve and relative say of a name: the path, or that it leaves the folder. */
function expected(name: string): string | 'outside' {
  const trimmed = name.trim();
  const target = resolve(DIR, trimmed);
  const rel = relative(DIR, target);
  return trimmed === '' || trimmed.startsWith('/') || rel === '' || rel === '..' || rel.startsWith('../') ? 'outside' : target;
}

function actual(name: string, dir = DIR): string {
  try {
    return resolveOutputPath(dir, name, 'item-1', 'note');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).code === 'OUTPUT_OUTSIDE' ? 'outside' : (error as ConfigError).code;
  }
}

describe('resolveOutputPath', () => {
  it('resolves every name as resolve() would, and refuses each one that leaves the output folder', () => {
    const names = [
      'a.txt',
      'notes/r1.txt',
      ' notes/r1.txt ',
      'a/b/c/d.webp',
      '.hidden',
      '..hidden/x',
      'x..',
      'a/./b.txt',
      'a//b.txt',
      'a/b/',
      './a.txt',
      'a/../b.txt',
      'a/../../b.txt',
      '..',
      '../x.txt',
      '.',
      '',
      '/etc/passwd',
      'back\\slash.txt',
      'café/Ünïcode.txt',
    ];
    for (const name of names) expect(actual(name), name).toBe(expected(name));
  });

  it('resolves against an output folder written with dots or a trailing slash as against its normal form', () => {
    expect(actual('a/b.txt', '/srv/jobs/x/../out/')).toBe(resolve(DIR, 'a/b.txt'));
    expect(actual('a/b.txt', '/srv/jobs/out')).toBe('/srv/jobs/out/a/b.txt');
  });

  it('refuses control characters in a name', () => {
    expect(actual('a\u0007b.txt')).toBe('OUTPUT_NAME_INVALID');
    expect(actual('dir/a\nb.txt')).toBe('OUTPUT_NAME_INVALID');
  });
});
