import { readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'csv-stringify/sync';
const lines = ['1','2','3','4','5'].flatMap((n) => readFileSync(`/tmp/gen/posts${n}.txt`, 'utf8').split('\n').filter(Boolean));
const rows = lines.map((l) => { const [title, meta] = l.split('\t'); return { title, meta }; });
const slugify = (t) => t.toLowerCase().replace(/['’"]/g, '').replace(/&/g, ' and ').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
const seen = new Set(); let bad = 0;
for (const r of rows) {
  let s = slugify(r.title);
  if (s.length > 70) { s = s.slice(0, 70); s = s.slice(0, s.lastIndexOf('-')); }
  if (seen.has(s)) { console.log('DUP', s); bad++; }
  seen.add(s); r.slug = s;
  if (!r.meta || r.meta.length < 120 || r.meta.length > 160) { console.log(r.meta?.length, r.title); bad++; }
}
console.log('rows', rows.length, 'titles unique', new Set(rows.map(r => r.title)).size, 'bad', bad);
// deterministic shuffle so topics interleave like a real publishing history
let seed = 20240611; const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
for (let i = rows.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [rows[i], rows[j]] = [rows[j], rows[i]]; }
if (process.argv[2]) writeFileSync(process.argv[2], stringify(rows.map(r => [r.title, r.slug, r.meta]), { header: true, columns: ['title', 'slug', 'meta_description'] }));
