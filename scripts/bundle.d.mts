export declare const COMMANDS: Record<'berth' | 'berthd' | 'berth-runtime', string>;
/** Lazily imported modules bundled into the CLI core (dist/berth.mjs) with src/cli/main.ts. */
export declare const CLI_CORE: string[];
export declare function bundleCommands(opts: { root: string; outdir: string; node: string; names?: string[] }): Promise<void>;
