/**
 * Where berth's C helpers are: native/build/<name> of the checkout this code
 * runs from (src/… from source, dist/ or dist/chunks/ when bundled), unless an
 * environment variable names another binary (tests and benchmarks pin copies).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const found = new Map<string, string>();

export function findNativeBinary(name: string, envVar: string): string | undefined {
  const fromEnv = process.env[envVar];
  if (fromEnv) return fromEnv;
  const cached = found.get(name);
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'native/build', name);
    if (existsSync(candidate)) {
      found.set(name, candidate);
      return candidate;
    }
    dir = dirname(dir);
  }
  return undefined;
}
