/**
 * The compiled filters, installed for real: a tiny C loader (built here with
 * gcc) reads the bytes, sets no_new_privs, calls seccomp(SECCOMP_SET_MODE_FILTER)
 * and execs — what the runtime's launcher does before the container's execve.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { BUSYBOX } from '../../helpers/busybox.ts';
import { compileSeccomp } from '../../../src/runtime/seccomp/compile.ts';
import { defaultSeccompProfile } from '../../../src/runtime/seccomp/default-profile.ts';
import { DOCKER_DEFAULT_CAPABILITIES } from '../../../src/runtime/capabilities.ts';
import { SYSCALLS_X86_64 as X64 } from '../../../src/runtime/seccomp/syscalls-x86_64.ts';
import type { LinuxSeccomp } from '../../../src/oci/runtime-spec.ts';

const here = dirname(fileURLToPath(import.meta.url));
let dir = '';
let loader = '';
let probe = '';
let n = 0;

before(async () => {
  dir = await makeTempDir('berth-test-seccomp-');
  loader = join(dir, 'seccomp-loader');
  probe = join(dir, 'syscall-probe');
  execFileSync('gcc', ['-Wall', '-Wextra', '-Werror', '-O2', '-o', loader, join(here, 'seccomp-loader.c')]);
  execFileSync('gcc', ['-Wall', '-Wextra', '-Werror', '-O2', '-o', probe, join(here, 'syscall-probe.c')]);
});

after(async () => {
  if (dir) await removeTempDir(dir);
});

function runUnder(seccomp: LinuxSeccomp | null, argv: string[]) {
  let args = argv;
  if (seccomp) {
    const { program, flags } = compileSeccomp(seccomp);
    const file = join(dir, `filter-${n++}.bpf`);
    writeFileSync(file, program);
    args = [file, String(flags), ...argv];
  }
  const res = spawnSync(seccomp ? loader : argv[0]!, seccomp ? args : argv.slice(1), { encoding: 'utf8', timeout: 20_000, cwd: dir });
  return { status: res.status, signal: res.signal, stdout: res.stdout, stderr: res.stderr };
}

const dockerDefault = () => defaultSeccompProfile([...DOCKER_DEFAULT_CAPABILITIES]);
const probeOut = (r: { stdout: string }) => r.stdout.trim();

describe("Docker's default profile in the kernel", () => {
  test('ordinary programs work: sh -c, ls, cat, pipes, fork/exec', () => {
    writeFileSync(join(dir, 'hello.txt'), 'hello from a file\n');
    const r = runUnder(dockerDefault(), [BUSYBOX, 'sh', '-c', `ls ${dir} | grep -c hello.txt && cat ${dir}/hello.txt && (echo sub; true) && date +%Y >/dev/null && echo done`]);
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.equal(r.stdout, '1\nhello from a file\nsub\ndone\n');
  });

  test('unshare is denied with EPERM (and works without the filter)', () => {
    const control = runUnder(null, [BUSYBOX, 'unshare', '-U', 'true']);
    assert.equal(control.status, 0, control.stderr);
    const r = runUnder(dockerDefault(), [BUSYBOX, 'unshare', '-U', 'true']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Operation not permitted/);
  });

  test('keyctl gets EPERM instead of reaching the kernel', () => {
    assert.equal(probeOut(runUnder(null, [probe, String(X64.keyctl), '0', '0'])), 'errno 22');
    assert.equal(probeOut(runUnder(dockerDefault(), [probe, String(X64.keyctl), '0', '0'])), 'errno 1');
    assert.equal(probeOut(runUnder(dockerDefault(), [probe, String(X64.add_key)])), 'errno 1');
  });

  test('clone: plain fork allowed, CLONE_NEWUSER denied', () => {
    const SIGCHLD = 17;
    const CLONE_NEWUSER = 0x10000000;
    assert.equal(probeOut(runUnder(dockerDefault(), [probe, String(X64.clone), String(SIGCHLD)])).split(' ')[0], 'ok');
    assert.equal(probeOut(runUnder(dockerDefault(), [probe, String(X64.clone), String(CLONE_NEWUSER | SIGCHLD)])), 'errno 1');
    assert.equal(probeOut(runUnder(null, [probe, String(X64.clone), String(CLONE_NEWUSER | SIGCHLD)])).split(' ')[0], 'ok');
  });

  test('clone3 gets ENOSYS, personality only with the allowed values', () => {
    assert.equal(probeOut(runUnder(dockerDefault(), [probe, String(X64.clone3), '0', '0'])), 'errno 38');
    assert.match(probeOut(runUnder(dockerDefault(), [probe, String(X64.personality), '0xffffffff'])), /^ok /);
    assert.equal(probeOut(runUnder(dockerDefault(), [probe, String(X64.personality), '0x0040000'])), 'errno 1');
  });

  test('with CAP_SYS_ADMIN the profile lets unshare through', () => {
    const r = runUnder(defaultSeccompProfile([...DOCKER_DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']), [BUSYBOX, 'unshare', '-U', 'true']);
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('other ABIs on this x86_64 kernel', () => {
  let i386 = '';
  before(() => {
    // A 32-bit compiler target is optional on a build host: skip when absent.
    const out = join(dir, 'i386-probe');
    const res = spawnSync('gcc', ['-m32', '-nostdlib', '-static', '-fno-pie', '-no-pie', '-O1', '-o', out, join(here, 'i386-probe.c')], { encoding: 'utf8' });
    if (res.status === 0) i386 = out;
  });

  test('i386 system calls are judged by the i386 table', (t) => {
    if (!i386) return t.skip('gcc cannot build i386 binaries here');
    assert.equal(runUnder(null, [i386]).stdout, 'getpid ok\nunshare ok\n');
    const r = runUnder(dockerDefault(), [i386]);
    assert.equal(r.stdout, 'getpid ok\nunshare EPERM\n');
    assert.equal(r.status, 0);
  });

  test('an ABI the profile does not list is killed', (t) => {
    if (!i386) return t.skip('gcc cannot build i386 binaries here');
    const r = runUnder({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO' }] }, [i386]);
    assert.equal(r.signal, 'SIGSYS');
    assert.equal(r.stdout, '');
  });

  test('x32 numbers (0x40000000 bit) are judged by the x32 table or denied', () => {
    const x32 = (name: string) => String(0x40000000 + X64[name]!);
    // Docker's profile lists SCMP_ARCH_X32: unshare is denied by the filter
    // before the kernel even looks at the (often disabled) x32 ABI.
    assert.equal(probeOut(runUnder(dockerDefault(), [probe, x32('unshare')])), 'errno 1');
    // getpid passes the filter; a kernel without x32 support then says ENOSYS.
    assert.match(probeOut(runUnder(dockerDefault(), [probe, x32('getpid')])), /^(ok \d+|errno 38)$/);
    // Without SCMP_ARCH_X32 a permissive profile must not let x32 bypass its deny list.
    const r = runUnder({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['unshare'], action: 'SCMP_ACT_ERRNO' }] }, [probe, x32('unshare')]);
    assert.equal(r.signal, 'SIGSYS');
  });
});

describe('custom profiles in the kernel', () => {
  test('an ERRNO rule returns the given errno', () => {
    const r = runUnder(
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 28 }] },
      [BUSYBOX, 'mkdir', join(dir, 'never')],
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /No space left on device/);
  });

  test('KILL_PROCESS and KILL kill with SIGSYS', () => {
    for (const action of ['SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL'] as const) {
      const r = runUnder({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['uname'], action }] }, [BUSYBOX, 'uname', '-a']);
      assert.equal(r.signal, 'SIGSYS', `${action}: status ${r.status} ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });

  test('argument rules: the same syscall allowed or denied by its 64-bit argument', () => {
    const profile: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['getpriority'], action: 'SCMP_ACT_ERRNO', errnoRet: 33, args: [{ index: 1, value: 0x100000000, op: 'SCMP_CMP_GE' }] }],
    };
    // PRIO_PROCESS=0, who: 0 → self; who with the high word set → rule applies.
    assert.match(probeOut(runUnder(profile, [probe, String(X64.getpriority), '0', '0'])), /^ok /);
    assert.equal(probeOut(runUnder(profile, [probe, String(X64.getpriority), '0', '0x100000000'])), 'errno 33');
  });

  test('flags reach seccomp(2): LOG and SPEC_ALLOW are accepted, TSYNC too', () => {
    const r = runUnder(
      { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_TSYNC' as 'SECCOMP_FILTER_FLAG_LOG'] },
      [BUSYBOX, 'true'],
    );
    assert.equal(r.status, 0, r.stderr);
  });

  test('a big profile with long jumps loads and decides right', () => {
    const names = Object.keys(X64).filter((name) => !['execve', 'exit', 'exit_group'].includes(name));
    const profile: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      // Every syscall gets an argument rule that never matches in practice,
      // getppid one that matches: > 1000 instructions, far branches everywhere.
      syscalls: [
        ...names.map((name) => ({ names: [name], action: 'SCMP_ACT_ERRNO' as const, errnoRet: 5, args: [{ index: 5, value: 0xdead00000000 + X64[name]!, op: 'SCMP_CMP_EQ' as const }] })),
        { names: ['getppid'], action: 'SCMP_ACT_ERRNO', errnoRet: 7 },
      ],
    };
    assert.ok(compileSeccomp(profile).instructions > 1000);
    assert.equal(probeOut(runUnder(profile, [probe, String(X64.getppid)])), 'errno 7');
    assert.match(probeOut(runUnder(profile, [probe, String(X64.getpid)])), /^ok /);
    assert.equal(probeOut(runUnder(profile, [probe, String(X64.getpid), '0', '0', '0', '0', '0', String(0xdead00000000 + X64.getpid!)])), 'errno 5');
  });
});
