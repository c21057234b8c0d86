// Copies the files under src/ that tsc does not emit (the SQL migrations, and any other data file read next to its
// module) to the same place under dist/, so the compiled code finds them where the sources do. Run by `npm run build`.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
const emitted = /\.(js|js\.map|d\.ts)$/;

const assets = readdirSync(src, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile() && !entry.name.endsWith('.ts'))
  // parentPath is Node 20.12+; path is the older name of the same thing.
  .map((entry) => relative(src, join(entry.parentPath ?? entry.path, entry.name)));

// A data file deleted from src/ (say a migration) must not linger in dist/: clear the copies made before.
for (const dir of new Set(assets.map((file) => dirname(file)))) {
  const target = join(dist, dir);
  if (!existsSync(target)) continue;
  for (const entry of readdirSync(target, { withFileTypes: true })) {
    if (entry.isFile() && !emitted.test(entry.name)) rmSync(join(target, entry.name));
  }
}
for (const file of assets) {
  mkdirSync(dirname(join(dist, file)), { recursive: true });
  copyFileSync(join(src, file), join(dist, file));
}
