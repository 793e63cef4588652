// Bundles berth's commands with esbuild. <outdir>/<name> is a tiny launcher
// that turns on Node's compile cache (V8 code cached on disk across runs) and
// imports <outdir>/<name>.mjs. Used by scripts/build.mjs (dist/) and the
// benchmarks.
//
// berthd and berth-runtime: one esbuild run with code splitting, so each
// entry is small and code loads when it is used.
//
// The berth CLI starts for every command, so its start-up is shaped by hand:
// <outdir>/berth.mjs is the *core*, one module holding src/cli/main.ts, what
// it imports, and the modules of CLI_CORE (`berth run`'s whole path: flags,
// the Engine API client, create/attach/wait/start). Every other command (and
// the rare paths: pulling, autostarting berthd, …) is a split chunk under
// <outdir>/chunks/, loaded on demand; those chunks import the core's modules
// from ../berth.mjs itself, so each module exists once in a process. Loading
// one module instead of a dozen of small chunks is ~4 ms of every `berth run`.
import { build } from 'esbuild';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export const COMMANDS = {
  berth: 'src/cli/main.ts',
  berthd: 'src/daemon/main.ts',
  'berth-runtime': 'src/runtime/cli/main.ts',
};

/** Lazily imported modules bundled into the CLI core with main.ts (and, with them, what they import). */
export const CLI_CORE = ['src/cli/commands/run.ts', 'src/client/connect.ts'];

/** @param {string} root */
function common(root) {
  return {
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    logLevel: 'warning',
    absWorkingDir: root,
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
  };
}

/** @param {{ root: string, outdir: string, node: string, names?: string[] }} opts */
export async function bundleCommands({ root, outdir, node, names = Object.keys(COMMANDS) }) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const present = names.filter((name) => existsSync(join(root, COMMANDS[name])));
  const split = present.filter((name) => name !== 'berth');
  if (split.length) {
    await build({
      ...common(root),
      entryPoints: Object.fromEntries(split.map((name) => [name, join(root, COMMANDS[name])])),
      outdir,
      entryNames: '[name]',
      chunkNames: 'chunks/[name]-[hash]',
      outExtension: { '.js': '.mjs' },
      splitting: true,
      sourcemap: 'linked',
    });
  }
  if (present.includes('berth')) await bundleCli(root, outdir);
  for (const name of present) {
    const launcher = join(outdir, name);
    writeFileSync(launcher, launcherSource(node, name));
    chmodSync(launcher, 0o755);
  }
}

/**
 * <outdir>/<name>: turn on the compile cache, import <name>.mjs.
 * @param {string} node
 * @param {string} name
 */
function launcherSource(node, name) {
  const lines = [
    // `--` ends Node's own options: without it Node reads `--env-file F`
    // anywhere on the command line (`berth run --env-file F …`) as its own.
    `#!${node} --`,
    `import { constants, enableCompileCache } from 'node:module';`,
    // Where Node puts it by default (os.tmpdir()/node-compile-cache), without
    // loading node:os to ask.
    `const tmp = process.env.TMPDIR || process.env.TMP || process.env.TEMP || '/tmp';`,
    `let cache = constants.compileCacheStatus.FAILED;`,
    `try { cache = enableCompileCache(\`\${tmp.length > 1 && tmp.endsWith('/') ? tmp.slice(0, -1) : tmp}/node-compile-cache\`).status; } catch {}`,
  ];
  if (name === 'berth') {
    // With a compile cache, the CLI core compiles eagerly. The cache keeps
    // the code V8 made when a module was compiled, and V8 compiles a
    // function's body only at its first call: lazily, every run would compile
    // afresh each function it calls (a sixth of `berth run`'s own time). The
    // core is compiled inside import() itself; what is compiled later
    // (chunks, Node's own modules) is lazy as usual.
    lines.push(
      `const eager = cache === constants.compileCacheStatus.ENABLED || cache === constants.compileCacheStatus.ALREADY_ENABLED;`,
      `const v8 = eager ? process.getBuiltinModule('node:v8') : undefined;`,
      `v8?.setFlagsFromString('--no-lazy');`,
      `const core = import('./berth.mjs');`,
      `v8?.setFlagsFromString('--lazy');`,
      `await core;`,
    );
  } else lines.push(`await import('./${name}.mjs');`);
  return lines.join('\n') + '\n';
}

/**
 * The CLI as a core module plus split chunks (see the top of this file), in
 * four esbuild runs: find the core's modules and the lazily imported modules
 * outside it; list the core modules' exports; bundle the outside modules as
 * split chunks whose imports of core modules become imports of ../berth.mjs;
 * bundle the core, re-exporting every core module's exports under unique
 * names, with its lazy imports pointing at those chunks.
 * @param {string} root
 * @param {string} outdir
 */
async function bundleCli(root, outdir) {
  const main = resolve(root, COMMANDS.berth);
  const extra = new Set(CLI_CORE.map((p) => resolve(root, p)));
  const isRelative = /^\.\.?\//;

  // 1. The core: main.ts and CLI_CORE with everything they import statically.
  const lazy = new Set();
  const analysis = await build({
    ...common(root),
    stdin: { contents: [main, ...extra].map((p) => `import ${JSON.stringify(p)};`).join('\n'), resolveDir: root, sourcefile: 'berth-cli-core.mjs' },
    write: false,
    outfile: join(outdir, 'berth.mjs'),
    metafile: true,
    plugins: [
      {
        name: 'berth-cli-lazy',
        setup(b) {
          b.onResolve({ filter: isRelative }, (args) => {
            if (args.kind !== 'dynamic-import') return undefined;
            const abs = resolve(args.resolveDir, args.path);
            if (extra.has(abs)) return undefined;
            lazy.add(abs);
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  const core = Object.keys(analysis.metafile.inputs)
    .filter((p) => !p.includes('<stdin>') && p !== 'berth-cli-core.mjs')
    .map((p) => resolve(root, p));
  for (const p of core) {
    if (!p.startsWith(join(root, 'src') + '/')) throw new Error(`bundle: the CLI core must be berth's own modules, not ${relative(root, p)} (import it lazily)`);
  }
  for (const p of core) lazy.delete(p);
  // main.ts last: it runs the command when evaluated, after the rest of the core.
  core.sort((a, b) => Number(a === main) - Number(b === main));
  const index = new Map(core.map((p, i) => [p, i]));

  // 2. Each core module's exports (type-only ones are gone in JS).
  const listed = await build({
    entryPoints: core,
    bundle: false,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    logLevel: 'warning',
    absWorkingDir: root,
    outbase: root,
    outdir: join(outdir, '.exports'),
  });
  /** @type {Map<string, string[]>} */
  const exportsOf = new Map();
  for (const info of Object.values(listed.metafile.outputs)) {
    if (info.entryPoint) exportsOf.set(resolve(root, info.entryPoint), info.exports);
  }
  const alias = (/** @type {string} */ name, /** @type {number} */ i) => `${name}$core${i}`;

  // 3. Everything outside the core: split chunks; a core module is a facade re-exporting it from ../berth.mjs.
  const CORE_SPECIFIER = 'berth-cli-core:berth.mjs';
  const chunks = await build({
    ...common(root),
    entryPoints: [...lazy],
    outdir,
    entryNames: 'chunks/[name]-[hash]',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    splitting: true,
    sourcemap: 'linked',
    metafile: true,
    plugins: [
      {
        name: 'berth-cli-core-facades',
        setup(b) {
          b.onResolve({ filter: isRelative }, (args) => {
            const abs = resolve(args.resolveDir, args.path);
            return index.has(abs) ? { path: abs, namespace: 'berth-cli-core' } : undefined;
          });
          b.onResolve({ filter: new RegExp(`^${CORE_SPECIFIER}$`) }, () => ({ path: '../berth.mjs', external: true }));
          b.onLoad({ filter: /.*/, namespace: 'berth-cli-core' }, (args) => {
            const i = index.get(args.path);
            const names = exportsOf.get(args.path) ?? [];
            return { contents: `export { ${names.map((n) => `${alias(n, i)} as ${n}`).join(', ')} } from '${CORE_SPECIFIER}';`, loader: 'js', resolveDir: root };
          });
        },
      },
    ],
  });
  /** @type {Map<string, string>} */
  const chunkOf = new Map();
  for (const [out, info] of Object.entries(chunks.metafile.outputs)) {
    if (info.entryPoint) chunkOf.set(resolve(root, info.entryPoint), `./${relative(outdir, resolve(root, out))}`);
  }

  // 4. The core, its lazy imports pointing at the chunks. A lazy import of a
  // core module (main's `import('./commands/run.ts')`) becomes a resolved
  // namespace: an import() inside one bundle makes esbuild wrap every module
  // in a lazy initializer, a function compiled afresh on every start (the
  // compile cache keeps only code compiled when a module loads).
  const dynamicImport = /\bimport\((['"])(\.{1,2}\/[^'"]+)\1\)/g;
  const reexports = core.map((p, i) => `export { ${(exportsOf.get(p) ?? []).map((n) => `${n} as ${alias(n, i)}`).join(', ')} } from ${JSON.stringify(p)};`);
  await build({
    ...common(root),
    stdin: { contents: reexports.join('\n'), resolveDir: root, sourcefile: 'berth-cli-core.mjs' },
    outfile: join(outdir, 'berth.mjs'),
    sourcemap: 'linked',
    plugins: [
      {
        name: 'berth-cli-chunks',
        setup(b) {
          b.onLoad({ filter: /\.ts$/ }, (args) => {
            if (!index.has(args.path)) return undefined;
            const source = readFileSync(args.path, 'utf8');
            const namespaces = new Map();
            const contents = source.replace(dynamicImport, (all, _quote, specifier) => {
              const i = index.get(resolve(dirname(args.path), specifier));
              if (i === undefined) return all;
              namespaces.set(`__berthCore${i}`, specifier);
              return `Promise.resolve(__berthCore${i})`;
            });
            if (!namespaces.size) return undefined;
            const imports = [...namespaces].map(([name, specifier]) => `import * as ${name} from ${JSON.stringify(specifier)};`);
            return { contents: imports.join('') + contents, loader: 'ts', resolveDir: dirname(args.path) };
          });
          b.onResolve({ filter: isRelative }, (args) => {
            if (args.kind !== 'dynamic-import') return undefined;
            const abs = resolve(args.resolveDir, args.path);
            if (index.has(abs)) return undefined;
            const chunk = chunkOf.get(abs);
            if (!chunk) throw new Error(`bundle: no chunk for ${relative(root, abs)}`);
            return { path: chunk, external: true };
          });
        },
      },
    ],
  });
  // The core never imports a chunk statically (a chunk imports the core).
  if (/^import [^(]*from ["']\.\/chunks\//m.test(readFileSync(join(outdir, 'berth.mjs'), 'utf8'))) {
    throw new Error('bundle: berth.mjs imports a chunk statically');
  }
}
