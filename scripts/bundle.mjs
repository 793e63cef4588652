// Bundles berth's commands: one esbuild run with code splitting, so each
// command's entry is small and the code of subcommands loads only when used
// (a CLI start compiles less). <outdir>/<name> is a tiny launcher that turns
// on Node's compile cache (V8 code cached on disk across runs) and imports
// <outdir>/<name>.mjs. Used by scripts/build.mjs (dist/) and the benchmarks.
import { build } from 'esbuild';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const COMMANDS = {
  berth: 'src/cli/main.ts',
  berthd: 'src/daemon/main.ts',
  'berth-runtime': 'src/runtime/cli/main.ts',
};

/** @param {{ root: string, outdir: string, node: string, names?: string[] }} opts */
export async function bundleCommands({ root, outdir, node, names = Object.keys(COMMANDS) }) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const entries = Object.fromEntries(
    names.filter((name) => existsSync(join(root, COMMANDS[name]))).map((name) => [name, join(root, COMMANDS[name])]),
  );
  await build({
    entryPoints: entries,
    outdir,
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
    // Bundled CommonJS dependencies may call require(); give them one,
    // created on first call (every chunk carries this banner and only the
    // CommonJS ones call it: createRequire per chunk is measurable at start-up).
    banner: {
      js: [
        `import { createRequire as __berthCreateRequire } from 'node:module';`,
        `let __berthRequire;`,
        `const require = (id) => (__berthRequire ??= __berthCreateRequire(import.meta.url))(id);`,
      ].join('\n'),
    },
    define: { 'process.env.BERTH_BUNDLED': '"1"' },
  });
  for (const name of Object.keys(entries)) {
    const launcher = join(outdir, name);
    writeFileSync(
      launcher,
      [`#!${node}`, `import { enableCompileCache } from 'node:module';`, `try { enableCompileCache(); } catch {}`, `await import('./${name}.mjs');`, ''].join('\n'),
    );
    chmodSync(launcher, 0o755);
  }
}
