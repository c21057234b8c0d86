import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Issue 27, points 4–6: a content team's spreadsheet exports through the CLI, as the team types it.
 * The inputs are bytes as Excel writes them (built byte by byte, not through our own decoder).
 */

const tempDir = useTempDir();

const CREDENTIALS = 'projects:\n  - { name: sheet, project: sheet, location: us-central1, api_key: emulator }\n';

/** windows-1252 bytes of `text`: ASCII as is, and the few characters the tests use by their code in the table. */
function cp1252(text: string): Buffer {
  const table: Record<string, number> = { '€': 0x80, '’': 0x92, '–': 0x96, œ: 0x9c, Œ: 0x8c, é: 0xe9, è: 0xe8, à: 0xe0, û: 0xfb };
  return Buffer.from(
    [...text].map((c) => {
      const code = table[c] ?? c.charCodeAt(0);
      if (code > 0xff) throw new Error(`no windows-1252 byte for ${c} in this test`);
      return code;
    }),
  );
}

/**
 * A content team's export from Excel (French locale): UTF-8 with BOM, semicolons, CRLF, a multi-line
 * quoted cell, accents, a blank row in the middle (`;;;`, as Excel writes an emptied row) and an empty line.
 */
const EXPORT = [
  'Référence;Nom du produit;Prix (€);Description',
  'A-001;Crème brûlée;4,50;"Dessert classique\r\nà la vanille"',
  'A-002;Café noisette;2,20;Petit café',
  ';;;',
  'A-003;Œuf cocotte;6,90;Œuf au four',
  '',
  'A-004;Tarte Tatin;5,10;Pommes caramélisées',
].join('\r\n');

function writeExport(dir: string): void {
  writeFileSync(join(dir, 'export.csv'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${EXPORT}\r\n`, 'utf8')]));
}

function writeJob(dir: string, input: string, rest: string, prompt = 'Describe {{Nom du produit}}'): string {
  writeFileSync(join(dir, 'credentials.yaml'), CREDENTIALS);
  const file = join(dir, 'job.yaml');
  writeFileSync(
    file,
    `version: 1
name: sheet
input: ${input}
credentials: credentials.yaml
steps:
  - name: blurb
    task: text
    model: gemini-2.5-flash-lite
    prompt: "${prompt}"
    json: { tagline: string }
    max_output_tokens: 100
${rest}
`,
  );
  return file;
}

describe('input.encoding: windows-1252 (issue 27.4)', () => {
  const HEADER = 'Code;Prix (€);Cœur de cible;L’avis – court';
  const ROWS = ['P1;3,50;Cœur;bon – très', 'P2;4,00;Œuvre;à l’œil'];

  function writeCp1252(dir: string): void {
    writeFileSync(join(dir, 'cp1252.csv'), cp1252(`${[HEADER, ...ROWS].join('\r\n')}\r\n`));
  }

  it('inspect --encoding windows-1252 reads €, œ, ’ and – in the header as the rows read them', async () => {
    const dir = tempDir();
    writeCp1252(dir);
    const json = await runCli(['inspect', join(dir, 'cp1252.csv'), '--encoding', 'windows-1252', '--json'], { cwd: dir });
    expect(json.stderr).toBe('');
    const report = JSON.parse(json.stdout) as { encoding: string; header: string[]; rows: number };
    expect(report.encoding).toBe('windows-1252');
    expect(report.header).toEqual(['Code', 'Prix (€)', 'Cœur de cible', 'L’avis – court']);
    expect(report.header.join('')).not.toMatch(/[\u0080-\u009f]/);
    expect(report.rows).toBe(2);
    const text = await runCli(['inspect', join(dir, 'cp1252.csv'), '--encoding', 'cp1252'], { cwd: dir });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('columns   4: Code, Prix (€), Cœur de cible, L’avis – court');
  });

  it('run on the emulator: a prompt naming {{Prix (€)}} and {{Cœur de cible}} works, and the results file carries the columns whole', async () => {
    const dir = tempDir();
    writeCp1252(dir);
    const job = writeJob(
      dir,
      '{ file: cp1252.csv, id: Code, encoding: windows-1252 }',
      'results: { file: out/results.csv, columns: ["Prix (€)", "Cœur de cible", "L’avis – court"] }',
      'Price {{Prix (€)}} for {{Cœur de cible}}: {{L’avis – court}}',
    );
    const run = await runCli(['run', job, '--emulator', '--yes', '--plain'], { cwd: dir });
    expect(run.stderr).not.toContain('names a column that is not in');
    expect(run.code).toBe(0);
    const bytes = readFileSync(join(dir, 'out', 'results.csv'));
    // A windows-1252 input is read by Excel from a UTF-8 file only with a BOM.
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const rows = parse(bytes.subarray(3), { columns: true, delimiter: ';' }) as Record<string, string>[];
    expect(Object.keys(rows[0]!).slice(0, 4)).toEqual(['Code', 'Prix (€)', 'Cœur de cible', 'L’avis – court']);
    expect(rows.map((r) => [r['Code'], r['Cœur de cible'], r['L’avis – court']])).toEqual([
      ['P1', 'Cœur', 'bon – très'],
      ['P2', 'Œuvre', 'à l’œil'],
    ]);
  });

  it('run over an input big enough for the worker threads (over 8 MB): the rows they read are keyed by the same header', async () => {
    const dir = tempDir();
    // Fat rows, so that 8 MB are few items: the sync's worker thread reads them, and the prompt renders them.
    const filler = 'x'.repeat(2000);
    const rows = Array.from({ length: 4300 }, (_, i) => `P${i};${i % 100},50 €;cœur – l’an ${i};${filler}`);
    writeFileSync(join(dir, 'big.csv'), cp1252(`Code;Prix (€);Cœur de cible;Notes\r\n${rows.join('\r\n')}\r\n`));
    const job = writeJob(
      dir,
      '{ file: big.csv, id: Code, encoding: windows-1252 }',
      'results: { file: out/results.csv, columns: ["Cœur de cible"] }',
      '{{Prix (€)}} {{Cœur de cible}}',
    );
    const run = await runCli(['run', job, '--emulator', '--yes', '--plain', '--limit', '2'], { cwd: dir });
    expect(run.stderr).not.toContain('This is a bug');
    expect(run.code).toBe(0);
    const results = parse(readFileSync(join(dir, 'out', 'results.csv')), { columns: true, delimiter: ';', bom: true }) as Record<string, string>[];
    expect(results).toHaveLength(4300);
    expect(results.slice(0, 2).map((r) => [r['Code'], r['Cœur de cible'], r['blurb_state']])).toEqual([
      ['P0', 'cœur – l’an 0', 'done'],
      ['P1', 'cœur – l’an 1', 'done'],
    ]);
  });
});

describe('blank lines in a CSV (issue 27.5)', () => {
  it('inspect skips them and counts them: not problems, exit 0', async () => {
    const dir = tempDir();
    writeExport(dir);
    const text = await runCli(['inspect', join(dir, 'export.csv')], { cwd: dir });
    expect(text.stdout).toContain('rows      4 (2 blank lines skipped)');
    expect(text.stdout).toContain('problems  none');
    expect(text.code).toBe(0);
    const json = JSON.parse((await runCli(['inspect', join(dir, 'export.csv'), '--json'], { cwd: dir })).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ delimiter: ';', bom: true, rows: 4, blank_lines: 2, problems: [], problem_count: 0 });
  });

  it('run does not stop on them (on_bad_row left at its default) and says how many it skipped', async () => {
    const dir = tempDir();
    writeExport(dir);
    const job = writeJob(dir, '{ file: export.csv, id: Référence }', 'results: out/results.csv');
    const validate = await runCli(['validate', job, '--emulator'], { cwd: dir });
    expect(validate.code).toBe(0);
    expect(validate.stdout + validate.stderr).toContain('4 items');
    expect(validate.stdout + validate.stderr).toContain('2 blank lines skipped');
    const run = await runCli(['run', job, '--emulator', '--yes', '--plain'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('2 blank lines skipped');
    const rows = parse(readFileSync(join(dir, 'out', 'results.csv')), { columns: true, delimiter: ';', bom: true }) as Record<string, string>[];
    expect(rows.map((r) => r['Référence'])).toEqual(['A-001', 'A-002', 'A-003', 'A-004']);
  });
});

describe('the results file for spreadsheet users (issue 27.6)', () => {
  it('results: PATH over a spreadsheet export follows its dialect: semicolons, BOM, CRLF, the id column as the input names it', async () => {
    const dir = tempDir();
    writeExport(dir);
    const job = writeJob(dir, '{ file: export.csv, id: Référence }', 'results: out/results.csv');
    expect((await runCli(['run', job, '--emulator', '--yes', '--plain'], { cwd: dir })).code).toBe(0);
    const bytes = readFileSync(join(dir, 'out', 'results.csv'));
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.subarray(3).toString('utf8');
    expect(text.split('\r\n')[0]).toBe('Référence;blurb_state;blurb_model;blurb_cached;blurb_tagline;blurb_finish_reason;blurb_error;cost_usd');
    expect(text.replace(/\r\n/g, '')).not.toContain('\n');
    expect(text.endsWith('\r\n')).toBe(true);
  });

  it('results: { file, delimiter, bom, columns } carries input columns, the multi-line cell whole', async () => {
    const dir = tempDir();
    writeExport(dir);
    const job = writeJob(
      dir,
      '{ file: export.csv, id: Référence }',
      'results: { file: out/results.csv, delimiter: "\\t", bom: false, columns: [Nom du produit, Description], fields: [blurb.tagline] }',
    );
    expect((await runCli(['run', job, '--emulator', '--yes', '--plain'], { cwd: dir })).code).toBe(0);
    const bytes = readFileSync(join(dir, 'out', 'results.csv'));
    expect(bytes[0]).toBe('R'.charCodeAt(0));
    const rows = parse(bytes, { columns: true, delimiter: '\t' }) as Record<string, string>[];
    expect(Object.keys(rows[0]!).slice(0, 4)).toEqual(['Référence', 'Nom du produit', 'Description', 'blurb_state']);
    expect(rows[0]).toMatchObject({
      Référence: 'A-001',
      'Nom du produit': 'Crème brûlée',
      Description: 'Dessert classique\r\nà la vanille',
      blurb_state: 'done',
    });
    expect(rows[2]).toMatchObject({ Référence: 'A-003', 'Nom du produit': 'Œuf cocotte' });
  });

  it('results: PATH over a plain comma file stays as it was: commas, no BOM, LF, first column `id`', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'posts.csv'), 'slug,title\na,Alpha\nb,Beta\n');
    const job = writeJob(dir, '{ file: posts.csv, id: slug }', 'results: out/results.csv', 'Tagline for {{title}}');
    expect((await runCli(['run', job, '--emulator', '--yes', '--plain'], { cwd: dir })).code).toBe(0);
    const text = readFileSync(join(dir, 'out', 'results.csv'), 'utf8');
    expect(text.split('\n')[0]).toBe('id,blurb_state,blurb_model,blurb_cached,blurb_tagline,blurb_finish_reason,blurb_error,cost_usd');
    expect(text).not.toContain('\r');
    expect(text.charCodeAt(0)).toBe('i'.charCodeAt(0));
  });

  it.each([
    ['an unknown column in columns', 'results: { file: out/r.csv, columns: [Nom du produit, Prix] }', 'results.columns', 'Prix (€)'],
    ['a delimiter of two characters', 'results: { file: out/r.csv, delimiter: ";;" }', 'results.delimiter', 'one character'],
  ])('%s is exit 2 naming the key, nothing spent', async (_, results, key, said) => {
    const dir = tempDir();
    writeExport(dir);
    const job = writeJob(dir, '{ file: export.csv, id: Référence }', results);
    const run = await runCli(['run', job, '--emulator', '--yes', '--plain'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(key);
    expect(run.stderr).toContain(said);
    expect(existsSync(join(dir, '.genbatch', 'sheet.db'))).toBe(false);
    expect(existsSync(join(dir, 'out', 'r.csv'))).toBe(false);
  });
});
