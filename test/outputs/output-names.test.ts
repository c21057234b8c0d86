import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { foldName, howTheyCollide, MAX_FILE_NAME_BYTES, nameLengthProblem as problemOf, outputName, shortValue } from '../../src/outputs/output-names.js';

describe('output names checked before any call', () => {
  it('folds names as case-insensitive, normalising file systems compare them', () => {
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    expect(nfc).not.toBe(nfd);
    expect(foldName(`images/${nfc}.png`)).toBe(foldName(`images/${nfd}.png`));
    expect(foldName('images/Post.PNG')).toBe(foldName('images/post.png'));
    expect(foldName('ΣΟΦΟΣ')).toBe(foldName('σοφος'));
    expect(foldName('ÉTÉ')).toBe(foldName('e\u0301te\u0301'));
    // Different names stay different: ß is not "ss" on these file systems, and accents count.
    expect(foldName('straße')).not.toBe(foldName('strasse'));
    expect(foldName('cafe')).not.toBe(foldName(nfc));
    expect(howTheyCollide(`${nfc}.png`, `${nfd}.png`)).toMatch(/normalise Unicode/);
    expect(howTheyCollide('Post.png', 'post.png')).toMatch(/case-insensitive/);
  });

  it('counts name length in UTF-8 bytes per path component, keeping room for temporary names', () => {
    const dir = '/srv/out';
    const nameLengthProblem = (outputDir: string, target: string): string | undefined => problemOf(outputName(outputDir, target), target);
    expect(outputName(dir, join(dir, 'images', 'a.png'))).toBe(join('images', 'a.png'));
    expect(outputName('/', '/a/b.png')).toBe(join('a', 'b.png'));
    expect(nameLengthProblem(dir, join(dir, 'images', `${'a'.repeat(MAX_FILE_NAME_BYTES - 4)}.png`))).toBeUndefined();
    expect(nameLengthProblem(dir, join(dir, 'images', `${'a'.repeat(MAX_FILE_NAME_BYTES - 3)}.png`))).toMatch(/file name .* is 224 bytes long/);
    // 80 characters, 240 bytes: characters are not what file systems count.
    expect(nameLengthProblem(dir, join(dir, `${'日'.repeat(80)}.png`))).toMatch(/is 244 bytes long \(UTF-8\)/);
    expect(nameLengthProblem(dir, join(dir, 'x'.repeat(256), 'a.png'))).toMatch(/folder name .* is 256 bytes long.*at most 255 bytes/);
    expect(nameLengthProblem(dir, join(dir, ...Array.from({ length: 25 }, () => 'd'.repeat(200)), 'a.png'))).toMatch(/output path is .* bytes long/);
  });

  it('shows a long value by its start and its length', () => {
    expect(shortValue('short')).toBe('short');
    expect(shortValue('x'.repeat(5000))).toBe(`${'x'.repeat(60)}… (5,000 characters)`);
  });
});
