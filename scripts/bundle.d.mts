export declare const COMMANDS: Record<'berth' | 'berthd' | 'berth-runtime', string>;
export declare function bundleCommands(opts: { root: string; outdir: string; node: string; names?: string[] }): Promise<void>;
