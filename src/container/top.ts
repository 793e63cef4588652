import { execFile } from 'node:child_process';
import { BerthError } from '../common/errors.ts';
import type { ContainerTopResponse } from '../api/container-data-types.ts';

/**
 * `docker top` (GET /containers/{id}/top?ps_args=…), as Docker does it: run
 * the host's ps(1) with the user's arguments plus "-q <pids>" (retried without
 * it, since some ps options cannot be combined with -q), find the PID column
 * in the header and keep the rows of the container's processes. A row whose
 * PID is "-" (a thread line, with the "m" option) belongs to the process
 * above it. The last column (the command) keeps its spaces.
 *
 * `pids` are host PIDs; the caller reads them from the container's cgroup.
 */

const PS = 'ps';

/** Docker's check: only "pid=PID…" may rename the PID column (else the filter could not find it). */
function validatePsArgs(psArgs: string): void {
  const re = /\s+([^\s]*)=\s*(PID[^\s]*)/g;
  for (const m of psArgs.matchAll(re)) {
    if (m[1] !== 'pid') {
      throw new BerthError('BERTH_CONTAINER_TOP_ARGS', `specifying "${m[1]}=${m[2]}" is not allowed`, { status: 400 });
    }
  }
}

/** Split on ASCII whitespace only (Go's fieldsASCII): a command may hold other Unicode spaces. */
function fieldsAscii(line: string): string[] {
  return line.split(/[ \t\n\v\f\r]+/).filter((f) => f !== '');
}

function runPs(args: string[]): Promise<{ ok: true; stdout: string } | { ok: false; stderr: string; message: string }> {
  return new Promise((resolve) => {
    execFile(PS, args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err) resolve({ ok: false, stderr: String(stderr), message: err.message });
      else resolve({ ok: true, stdout: String(stdout) });
    });
  });
}

/** Turn ps output into Docker's {Titles, Processes}, keeping the rows of `pids`. */
export function parsePsOutput(output: string, pids: readonly number[]): ContainerTopResponse {
  const lines = output.split('\n');
  const titles = fieldsAscii(lines[0] ?? '');
  const pidIndex = titles.indexOf('PID');
  if (pidIndex === -1) {
    throw new BerthError('BERTH_CONTAINER_TOP_NO_PID', "Couldn't find PID field in ps output", { status: 500, detail: { titles } });
  }
  const wanted = new Set(pids);
  const processes: string[][] = [];
  let previousWanted = false;
  for (const line of lines.slice(1)) {
    if (line.length === 0) continue;
    const fields = fieldsAscii(line);
    if (fields.length === 0) continue;
    const append = () => processes.push([...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')]);
    const pidField = fields[pidIndex];
    if (pidField === '-') {
      if (previousWanted) append();
      continue;
    }
    const pid = Number(pidField);
    if (pidField === undefined || !/^\d+$/.test(pidField)) {
      throw new BerthError('BERTH_CONTAINER_TOP_PS_OUTPUT', `Unexpected pid '${pidField ?? ''}' in ps output line ${JSON.stringify(line)}`, { status: 500 });
    }
    previousWanted = wanted.has(pid);
    if (previousWanted) append();
  }
  return { Titles: titles, Processes: processes };
}

/** The container's processes as `docker top` shows them. */
export async function topProcesses(pids: readonly number[], psArgs = '-ef'): Promise<ContainerTopResponse> {
  const argsText = psArgs.trim() === '' ? '-ef' : psArgs;
  validatePsArgs(argsText);
  const args = argsText.split(/ +/).filter((a) => a !== '');
  let result = pids.length > 0 ? await runPs([...args, `-q${pids.join(',')}`]) : await runPs(args);
  if (!result.ok && pids.length > 0) result = await runPs(args);
  if (!result.ok) {
    const first = result.stderr.split('\n').find((l) => l.trim() !== '') ?? result.message;
    throw new BerthError('BERTH_CONTAINER_TOP_PS', `ps: ${first.trim()}`, { status: 500, detail: { args } });
  }
  return parsePsOutput(result.stdout, pids);
}
