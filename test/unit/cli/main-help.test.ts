/**
 * `berth COMMAND --help` for every command (usage on stdout, exit 0, no
 * daemon asked), including the commands that stop parsing at their first
 * positional (run, create, exec, top) and `berth help COMMAND`; after the
 * image, --help belongs to the container's command.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { main } from '../../../src/cli/main.ts';
import type { Io } from '../../../src/cli/command.ts';

export function fakeIo(): { io: Io; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const io = { stdout, stderr, stdin: new PassThrough() } as unknown as Io;
  return { io, out: () => out, err: () => err };
}

/** Every command and management subcommand main() knows, from the help texts themselves. */
async function allCommands(): Promise<string[][]> {
  const top = fakeIo();
  assert.equal(await main(['--help'], top.io), 0);
  const section = (text: string, title: string) =>
    (text.split(`${title}:\n`)[1] ?? '').split('\n\n')[0]!.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean);
  const out: string[][] = section(top.out(), 'Commands').map((c) => [c]);
  for (const group of section(top.out(), 'Management Commands')) {
    const g = fakeIo();
    assert.equal(await main([group, '--help'], g.io), 0);
    for (const sub of section(g.out(), 'Commands')) out.push([group, sub]);
  }
  return out;
}

describe('berth --help', () => {
  test('every command prints its usage and exits 0', async () => {
    const commands = await allCommands();
    assert.ok(commands.length > 60, `found ${commands.length} commands`);
    // (registry serve hands its arguments to the registry's own command line, which prints its usage.)
    for (const argv of commands.filter((c) => c.join(' ') !== 'registry serve')) {
      const f = fakeIo();
      const code = await main([...argv, '--help'], f.io);
      assert.equal(code, 0, `${argv.join(' ')} --help: ${f.err()}`);
      assert.match(f.out(), new RegExp(`^\\nUsage:  berth ${argv.join(' ')} `), argv.join(' '));
      assert.match(f.out(), /\n {6}--help +Print usage\n/, argv.join(' '));
      assert.equal(f.err(), '');
    }
  });

  test('run, create, exec, top: --help before the first positional; berth help COMMAND', async () => {
    for (const argv of [['run', '--help'], ['create', '--help'], ['exec', '--help'], ['top', '--help'], ['container', 'run', '--help'], ['run', '-d', '--help'], ['help', 'run'], ['help', 'container', 'exec']]) {
      const f = fakeIo();
      assert.equal(await main(argv, f.io), 0, `${argv.join(' ')}: ${f.err()}`);
      assert.match(f.out(), /Usage: {2}berth (container )?(run|create|exec|top) (\[OPTIONS\]|CONTAINER)/, argv.join(' '));
      assert.equal(f.err(), '');
    }
  });
});

describe('a reader that goes away', () => {
  test('stdout closed before the CLI writes: exit 141 (SIGPIPE as a shell shows it), nothing on stderr', async () => {
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', main, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Our end of its stdout closes at once: its first write meets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.equal(stderr, '');
    assert.equal(code, 141);
  });
});
