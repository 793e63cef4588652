import { run, runOk } from './process.ts';
import type { RunResult } from './process.ts';

/**
 * skopeo (Debian's 1.9) for moving images between transports in tests:
 * docker://127.0.0.1:PORT/…, oci:DIR[:ref], oci-archive:FILE[:ref],
 * docker-archive:FILE[:name:tag], dir:DIR. TLS verification is off (loopback
 * registries are plain HTTP) and the policy accepts anything, so no host
 * configuration is needed. `tmpdir` keeps skopeo's big temp files in a test dir.
 */
export const SKOPEO_BIN = '/usr/bin/skopeo';

export interface SkopeoOptions {
  tmpdir?: string;
  timeoutMs?: number;
  /** user:password for both ends (docker:// transports). */
  creds?: string;
}

function skopeoEnv(options: SkopeoOptions): NodeJS.ProcessEnv {
  return options.tmpdir ? { ...process.env, TMPDIR: options.tmpdir } : process.env;
}

/** Any skopeo command (global --insecure-policy added); never throws on the exit code. */
export function skopeo(args: string[], options: SkopeoOptions = {}): Promise<RunResult> {
  return run(SKOPEO_BIN, ['--insecure-policy', ...args], { env: skopeoEnv(options), timeoutMs: options.timeoutMs });
}

/** `skopeo copy SRC DEST` with TLS verification off at both ends; throws on failure. */
export async function skopeoCopy(src: string, dest: string, options: SkopeoOptions & { extraArgs?: string[] } = {}): Promise<RunResult> {
  const args = ['--insecure-policy', 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--quiet'];
  if (options.creds) args.push('--src-creds', options.creds, '--dest-creds', options.creds);
  args.push(...(options.extraArgs ?? []), src, dest);
  return runOk(SKOPEO_BIN, args, { env: skopeoEnv(options), timeoutMs: options.timeoutMs });
}

/** `skopeo inspect` (config-level summary, or the raw manifest / config with `raw`/`config`) parsed as JSON. */
export async function skopeoInspect(
  ref: string,
  options: SkopeoOptions & { raw?: boolean; config?: boolean } = {},
): Promise<any> {
  const args = ['--insecure-policy', 'inspect', '--tls-verify=false'];
  if (options.creds) args.push('--creds', options.creds);
  if (options.raw) args.push('--raw');
  if (options.config) args.push('--config');
  args.push(ref);
  const result = await runOk(SKOPEO_BIN, args, { env: skopeoEnv(options), timeoutMs: options.timeoutMs });
  return JSON.parse(result.stdout);
}
