/**
 * OCI hooks: each runs with the container state JSON on stdin, its own args
 * (args[0] is argv[0]) and env, and a timeout after which it is killed.
 */
import { spawn } from 'node:child_process';
import type { Hook, HookName, Spec, State } from '../oci/runtime-spec.ts';
import { BerthError } from '../common/errors.ts';

export function hasHooks(spec: Spec, ...names: HookName[]): boolean {
  return names.some((n) => (spec.hooks?.[n]?.length ?? 0) > 0);
}

export async function runHooks(spec: Spec, name: HookName, state: State): Promise<void> {
  const hooks = spec.hooks?.[name] ?? [];
  for (let i = 0; i < hooks.length; i++) await runHook(hooks[i]!, state, `hooks.${name}[${i}]`);
}

export function runHook(hook: Hook, state: State, where: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const argv0 = hook.args?.[0] ?? hook.path;
    const child = spawn(hook.path, hook.args?.slice(1) ?? [], {
      argv0,
      env: Object.fromEntries((hook.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let timedOut = false;
    const timer = hook.timeout
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, hook.timeout * 1000)
      : undefined;
    child.stdin.on('error', () => {});
    child.stdin.end(JSON.stringify(state));
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new BerthError('BERTH_RUNTIME_HOOK', `${where} ${hook.path}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (timedOut) return reject(new BerthError('BERTH_RUNTIME_HOOK', `${where} ${hook.path}: timed out after ${hook.timeout}s`));
      if (code === 0) return resolve();
      reject(new BerthError('BERTH_RUNTIME_HOOK', `${where} ${hook.path}: exited with ${signal ?? code}${output.trim() ? `: ${output.trim().slice(0, 500)}` : ''}`));
    });
  });
}
