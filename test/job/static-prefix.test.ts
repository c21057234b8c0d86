import { describe, expect, it } from 'vitest';
import { lateStaticWarning, staticPrefix } from '../../src/job/static-prefix.js';

/** About 3,000 tokens of fixed text, as a style guide is. */
const GUIDE = Array.from({ length: 400 }, (_, i) => `Rule ${i + 1}: write plainly, in the active voice.`).join('\n');
const styles = { guide: GUIDE, tone: 'Friendly and brief.' };

describe('the static prefix of a step: what is the same for every item, sent first', () => {
  it('is the system instruction and the fixed text (styles filled in) before the first item field', () => {
    const prefix = staticPrefix(
      { system: 'You are an editor. {{styles.tone}}', prompt: '{{styles.guide}}\n\nProduct: {{title}}\nNotes: {{steps.brief.text}}' },
      styles,
    );
    expect(prefix.system).toBe('You are an editor. Friendly and brief.');
    expect(prefix.leading).toBe(`${GUIDE}\n\nProduct: `);
    expect(prefix.tokens).toBeGreaterThan(2048);
    expect(prefix.late?.tokens ?? 0).toBeLessThan(10); // "\nNotes: " between two fields
  });

  it('an earlier step field is an item field too; a prompt with no item field is all fixed', () => {
    expect(staticPrefix({ prompt: 'Shorten: {{steps.brief.text}} {{styles.tone}}' }, styles)).toMatchObject({
      leading: 'Shorten: ',
      late: { where: 'prompt', after: '{{steps.brief.text}}', styles: ['{{styles.tone}}'] },
    });
    expect(staticPrefix({ prompt: 'Say hello. {{styles.tone}}' }, styles)).toMatchObject({ leading: 'Say hello. Friendly and brief.' });
  });

  it('finds fixed text after an item field, and validate says how to reorder it', () => {
    const step = { name: 'describe', prompt: 'Describe {{title}} for the catalogue.\n\n{{styles.guide}}' };
    const prefix = staticPrefix(step, styles);
    expect(prefix.leading).toBe('Describe ');
    expect(prefix.late?.tokens).toBeGreaterThan(2048);
    expect(lateStaticWarning(step, styles)).toMatch(
      /^describe: about [\d,]+ tokens of fixed text \(\{\{styles\.guide\}\}\) come after the item field \{\{title\}\} in prompt:, so no context cache can serve them .* move \{\{styles\.guide\}\} before \{\{title\}\} in prompt:, or into system:/,
    );
    // Little fixed text after the field: no warning.
    expect(lateStaticWarning({ name: 'short', prompt: 'Describe {{title}}. {{styles.tone}}' }, styles)).toBeUndefined();
    // The guide first: nothing to warn about.
    expect(lateStaticWarning({ name: 'good', prompt: '{{styles.guide}}\n\nDescribe {{title}}.' }, styles)).toBeUndefined();
  });

  it('a system instruction naming an item field ends the prefix there', () => {
    const step = { name: 'brand', system: 'You write for {{brand}}.', prompt: '{{styles.guide}}\n\nDescribe {{title}}.' };
    const prefix = staticPrefix(step, styles);
    expect(prefix.system).toBeUndefined();
    expect(prefix.leading).toBe('');
    expect(prefix.late).toMatchObject({ where: 'system', after: '{{brand}}', styles: ['{{styles.guide}}'] });
    expect(lateStaticWarning(step, styles)).toMatch(/move \{\{brand\}\} out of system: into the prompt/);
  });
});
