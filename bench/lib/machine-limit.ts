import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The machine's floor for "pull and unpack" without any engine: for each
 * layer blob, sha256 of the compressed bytes, gunzip, sha256 of the
 * uncompressed bytes and tar extraction into a directory — the same work a
 * pull must do after the transfer — with `parallel` layers at once (2 cores).
 * Native tools (coreutils sha256sum, gzip, GNU tar) so it measures the
 * machine, not a runtime.
 */
export async function machineLimit(blobPaths: string[], destDir: string, parallel = 2): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < blobPaths.length) {
      const i = next++;
      const dest = join(destDir, `layer-${i}`);
      await mkdir(dest, { recursive: true });
      await runBash(
        'set -o pipefail; tee >(sha256sum >/dev/null) < "$1" | gzip -dc | tee >(sha256sum >/dev/null) | tar -x -C "$2" -f -',
        [blobPaths[i]!, dest],
      );
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

function runBash(script: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script, 'limit', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`machine-limit pipeline exited ${code}: ${stderr}`))));
  });
}
