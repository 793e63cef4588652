import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { compileSeccomp } from '../../../src/runtime/seccomp/compile.ts';
import { defaultSeccompProfile } from '../../../src/runtime/seccomp/default-profile.ts';
import { DOCKER_DEFAULT_CAPABILITIES } from '../../../src/runtime/capabilities.ts';
import { SYSCALLS_X86_64 as X64 } from '../../../src/runtime/seccomp/syscalls-x86_64.ts';
import { SYSCALLS_I386 as I386 } from '../../../src/runtime/seccomp/syscalls-i386.ts';
import { SYSCALLS_X32 as X32 } from '../../../src/runtime/seccomp/syscalls-x32.ts';
import type { LinuxSeccomp } from '../../../src/oci/runtime-spec.ts';
import { runFilter } from './bpf-interpreter.ts';

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const ALLOW = 0x7fff0000;
const KILL_PROCESS = 0x80000000;
const KILL_THREAD = 0;
const errno = (e: number) => (0x00050000 | e) >>> 0;
const EPERM = errno(1);
const ENOSYS = errno(38);

const CLONE_NEWNS = 0x00020000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNET = 0x40000000;
const SIGCHLD = 17;
const THREAD_FLAGS = 0x003d0f00; // what glibc's pthread_create passes

function decide(program: Buffer, name: string, args: (number | bigint)[] = [], arch = 'x86_64'): number {
  const table = arch === 'x86_64' ? X64 : arch === 'i386' ? I386 : X32;
  const nr = table[name];
  assert.ok(nr !== undefined, `${name} in ${arch} table`);
  const auditArch = arch === 'i386' ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64;
  return runFilter(program, { nr, arch: auditArch, args }).ret;
}

describe("Docker's default profile, compiled", () => {
  const { program, flags, instructions } = compileSeccomp(defaultSeccompProfile([...DOCKER_DEFAULT_CAPABILITIES]), { arch: 'SCMP_ARCH_X86_64' });

  test('fits the kernel limit and needs no flags', () => {
    assert.ok(instructions <= 4096, `${instructions} instructions`);
    assert.equal(program.length, instructions * 8);
    assert.equal(flags, 0);
  });

  test('ordinary syscalls are allowed, on a short path', () => {
    for (const name of ['read', 'write', 'openat', 'execve', 'mmap', 'exit_group', 'futex', 'rt_sigreturn', 'wait4', 'getdents64', 'statx', 'io_uring_setup', 'arch_prctl', 'ptrace']) {
      assert.equal(decide(program, name), ALLOW, name);
    }
    const steps = runFilter(program, { nr: X64.read!, arch: AUDIT_ARCH_X86_64 }).steps;
    assert.ok(steps <= 16, `read takes ${steps} instructions`);
    const worst = Math.max(...Object.values(X64).map((nr) => runFilter(program, { nr, arch: AUDIT_ARCH_X86_64 }).steps));
    assert.ok(worst <= 40, `worst plain syscall path ${worst} instructions`);
  });

  test('privileged syscalls get EPERM', () => {
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'keyctl', 'add_key', 'request_key', 'pivot_root', 'reboot', 'init_module', 'bpf', 'sethostname', 'kexec_load', 'open_by_handle_at', 'userfaultfd']) {
      assert.equal(decide(program, name), EPERM, name);
    }
  });

  test('clone is allowed without namespace flags and denied with them', () => {
    assert.equal(decide(program, 'clone', [SIGCHLD]), ALLOW);
    assert.equal(decide(program, 'clone', [THREAD_FLAGS]), ALLOW);
    assert.equal(decide(program, 'clone', [CLONE_NEWUSER | SIGCHLD]), EPERM);
    assert.equal(decide(program, 'clone', [CLONE_NEWNS]), EPERM);
    assert.equal(decide(program, 'clone', [CLONE_NEWNET | THREAD_FLAGS]), EPERM);
    // The mask covers only the low word: high bits do not matter.
    assert.equal(decide(program, 'clone', [(1n << 40n) | 17n]), ALLOW);
  });

  test('clone3 gets ENOSYS so libc falls back to clone', () => {
    assert.equal(decide(program, 'clone3'), ENOSYS);
  });

  test('personality: only the five values moby allows, compared as 64-bit', () => {
    for (const v of [0, 8, 0x20000, 0x20008, 0xffffffff]) assert.equal(decide(program, 'personality', [v]), ALLOW, `0x${v.toString(16)}`);
    for (const v of [0x0040000, 1, 0x20009]) assert.equal(decide(program, 'personality', [v]), EPERM, `0x${v.toString(16)}`);
    assert.equal(decide(program, 'personality', [1n << 32n]), EPERM, 'high word set, low word 0');
    assert.equal(decide(program, 'personality', [0xffffffffn | (1n << 32n)]), EPERM);
  });

  test('socket: everything but AF_VSOCK', () => {
    assert.equal(decide(program, 'socket', [2, 1, 0]), ALLOW);
    assert.equal(decide(program, 'socket', [1]), ALLOW);
    assert.equal(decide(program, 'socket', [40]), EPERM);
    assert.equal(decide(program, 'socket', [(1n << 32n) | 40n]), ALLOW, '64-bit NE looks at the high word too');
  });

  test('syscalls newer than the profile get ENOSYS, gaps get EPERM', () => {
    assert.equal(decide(program, 'fchmodat2'), ENOSYS);
    assert.equal(decide(program, 'mseal'), ENOSYS);
    assert.equal(runFilter(program, { nr: 1000, arch: AUDIT_ARCH_X86_64 }).ret, ENOSYS);
    assert.equal(decide(program, 'kcmp'), EPERM);
  });

  test('i386 and x32 syscalls use their own numbers', () => {
    assert.equal(decide(program, 'read', [], 'i386'), ALLOW);
    assert.equal(decide(program, 'socketcall', [], 'i386'), ALLOW);
    assert.equal(decide(program, 'chown32', [], 'i386'), ALLOW);
    assert.equal(decide(program, 'mount', [], 'i386'), EPERM);
    assert.equal(decide(program, 'clone', [CLONE_NEWUSER], 'i386'), EPERM);
    assert.equal(decide(program, 'clone', [SIGCHLD], 'i386'), ALLOW);
    // Names resolve per arch, as libseccomp does: the amd64 rule names arch_prctl,
    // which i386 also has.
    assert.equal(decide(program, 'arch_prctl', [], 'i386'), ALLOW);
    assert.equal(decide(program, 'kexec_load', [], 'i386'), EPERM);
    assert.equal(decide(program, 'read', [], 'x32'), ALLOW);
    assert.equal(decide(program, 'rt_sigaction', [], 'x32'), ALLOW);
    assert.equal(decide(program, 'unshare', [], 'x32'), EPERM);
    assert.equal(decide(program, 'clone3', [], 'x32'), ENOSYS);
    // On i386, number 21 is mount; on x86_64 it is access.
    assert.equal(runFilter(program, { nr: 21, arch: AUDIT_ARCH_I386 }).ret, EPERM);
    assert.equal(runFilter(program, { nr: 21, arch: AUDIT_ARCH_X86_64 }).ret, ALLOW);
  });

  test('a foreign architecture is killed', () => {
    assert.equal(runFilter(program, { nr: 63, arch: AUDIT_ARCH_AARCH64 }).ret, KILL_PROCESS);
  });

  test('CAP_SYS_ADMIN unlocks mount, unshare, setns and clone with namespace flags', () => {
    const admin = compileSeccomp(defaultSeccompProfile([...DOCKER_DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']), { arch: 'SCMP_ARCH_X86_64' }).program;
    for (const name of ['mount', 'unshare', 'setns', 'umount2', 'sethostname', 'clone3']) assert.equal(decide(admin, name), ALLOW, name);
    assert.equal(decide(admin, 'clone', [CLONE_NEWUSER | CLONE_NEWNS]), ALLOW);
    assert.equal(decide(admin, 'keyctl'), EPERM, 'keyctl is never allowed');
    assert.equal(decide(admin, 'reboot'), EPERM);
  });

  test('other capabilities unlock their syscalls only', () => {
    const p = compileSeccomp(defaultSeccompProfile(['CAP_SYS_PTRACE', 'sys_time', 'CAP_SYS_BOOT']), { arch: 'SCMP_ARCH_X86_64' }).program;
    assert.equal(decide(p, 'kcmp'), ALLOW);
    assert.equal(decide(p, 'clock_settime'), ALLOW);
    assert.equal(decide(p, 'reboot'), ALLOW);
    assert.equal(decide(p, 'chroot'), EPERM, 'no CAP_SYS_CHROOT');
    assert.equal(decide(p, 'mount'), EPERM);
  });
});

describe('defaultSeccompProfile', () => {
  test('has moby default action, errno and the x86 architectures', () => {
    const p = defaultSeccompProfile([...DOCKER_DEFAULT_CAPABILITIES], { goArch: 'amd64', kernelRelease: '6.1.0' });
    assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(p.defaultErrnoRet, 1);
    assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const names = p.syscalls!.flatMap((s) => s.names);
    assert.ok(names.includes('arch_prctl'));
    assert.ok(!names.includes('mount'));
    assert.ok(!names.includes('set_tls'), 'arm-only rule excluded on amd64');
  });

  test('old kernels do not get ptrace; arm64 gets its own rules', () => {
    const old = defaultSeccompProfile([], { goArch: 'amd64', kernelRelease: '4.4.0-210' });
    assert.ok(!old.syscalls!.some((s) => s.names.includes('ptrace')));
    const arm = defaultSeccompProfile([], { goArch: 'arm64', kernelRelease: '6.1' });
    assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.ok(arm.syscalls!.some((s) => s.names.includes('set_tls')));
    assert.ok(!arm.syscalls!.some((s) => s.names.includes('arch_prctl')));
  });
});

const base = (extra: Partial<LinuxSeccomp>): LinuxSeccomp => ({ defaultAction: 'SCMP_ACT_ALLOW', ...extra });
const X = { arch: 'SCMP_ARCH_X86_64' };

describe('compiler semantics', () => {
  test('ERRNO returns the given errno, TRACE carries its data, KILL kills the thread', () => {
    const p = compileSeccomp(
      base({
        syscalls: [
          { names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
          { names: ['getppid'], action: 'SCMP_ACT_ERRNO' },
          { names: ['gettid'], action: 'SCMP_ACT_TRACE', errnoRet: 7 },
          { names: ['getuid'], action: 'SCMP_ACT_KILL' },
          { names: ['getgid'], action: 'SCMP_ACT_KILL_PROCESS' },
          { names: ['geteuid'], action: 'SCMP_ACT_TRAP' },
          { names: ['getegid'], action: 'SCMP_ACT_LOG' },
        ],
      }),
      X,
    ).program;
    assert.equal(decide(p, 'getpid'), errno(13));
    assert.equal(decide(p, 'getppid'), EPERM);
    assert.equal(decide(p, 'gettid'), 0x7ff00007);
    assert.equal(decide(p, 'getuid'), KILL_THREAD);
    assert.equal(decide(p, 'getgid'), KILL_PROCESS);
    assert.equal(decide(p, 'geteuid'), 0x00030000);
    assert.equal(decide(p, 'getegid'), 0x7ffc0000);
    assert.equal(decide(p, 'read'), ALLOW);
  });

  test('64-bit comparisons agree with BigInt arithmetic for every operator', () => {
    const values = [0n, 1n, 5n, 0xffffffffn, 0x100000000n, 0x100000004n, 0x100000005n, 0x100000006n, 0x1ffffffffn, 0x200000000n, 0x8000000000000000n, (1n << 64n) - 1n];
    const ops = {
      SCMP_CMP_EQ: (a: bigint, v: bigint) => a === v,
      SCMP_CMP_NE: (a: bigint, v: bigint) => a !== v,
      SCMP_CMP_LT: (a: bigint, v: bigint) => a < v,
      SCMP_CMP_LE: (a: bigint, v: bigint) => a <= v,
      SCMP_CMP_GT: (a: bigint, v: bigint) => a > v,
      SCMP_CMP_GE: (a: bigint, v: bigint) => a >= v,
    } as const;
    for (const [op, ref] of Object.entries(ops)) {
      for (const v of [5n, 0x100000005n, 0xffffffffn]) {
        const p = compileSeccomp(
          { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: v as unknown as number, op: op as 'SCMP_CMP_EQ' }] }] },
          X,
        ).program;
        for (const a of values) {
          const got = decide(p, 'ioctl', [0, 0, a]) === ALLOW;
          assert.equal(got, ref(a, v), `${op} arg=0x${a.toString(16)} value=0x${v.toString(16)}`);
        }
      }
    }
  });

  test('MASKED_EQ masks both words and compares with valueTwo', () => {
    const p = compileSeccomp(
      {
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [{ names: ['mmap'], action: 'SCMP_ACT_ALLOW', args: [{ index: 3, value: 0xf0000000f as unknown as number, valueTwo: 0x100000002, op: 'SCMP_CMP_MASKED_EQ' }] }],
      },
      X,
    ).program;
    assert.equal(decide(p, 'mmap', [0, 0, 0, 0x100000002n]), ALLOW);
    assert.equal(decide(p, 'mmap', [0, 0, 0, 0x11ffffff2n]), ALLOW);
    assert.equal(decide(p, 'mmap', [0, 0, 0, 0x000000002n]), EPERM);
    assert.equal(decide(p, 'mmap', [0, 0, 0, 0x100000003n]), EPERM);
  });

  test('several rules for one syscall are ORed, conditions within a rule are ANDed', () => {
    const p = compileSeccomp(
      {
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [
          { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 9, op: 'SCMP_CMP_EQ' }] },
          { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 15, op: 'SCMP_CMP_EQ' }] },
        ],
      },
      X,
    ).program;
    assert.equal(decide(p, 'kill', [1, 9]), ALLOW);
    assert.equal(decide(p, 'kill', [2, 9]), EPERM);
    assert.equal(decide(p, 'kill', [1, 10]), EPERM);
    assert.equal(decide(p, 'kill', [77, 15]), ALLOW);
  });

  test('two conditions on the same argument are separate rules (ORed), as runc adds them', () => {
    // runc's matchCall: [{0 GE 100}, {0 LT 200}] is two rules, so every value matches one.
    const p = compileSeccomp(
      base({
        syscalls: [
          { names: ['setuid'], action: 'SCMP_ACT_ERRNO', errnoRet: 99, args: [{ index: 0, value: 100, op: 'SCMP_CMP_GE' }, { index: 0, value: 200, op: 'SCMP_CMP_LT' }] },
          // One argument tested twice makes every condition of the rule its own rule, the other index's too.
          { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 7, args: [{ index: 0, value: 5, op: 'SCMP_CMP_EQ' }, { index: 0, value: 6, op: 'SCMP_CMP_EQ' }, { index: 1, value: 9, op: 'SCMP_CMP_EQ' }] },
        ],
      }),
      X,
    ).program;
    for (const uid of [0, 99, 100, 150, 199, 200, 65534]) assert.equal(decide(p, 'setuid', [uid]), errno(99), `setuid(${uid})`);
    assert.equal(decide(p, 'kill', [5, 0]), errno(7));
    assert.equal(decide(p, 'kill', [6, 0]), errno(7));
    assert.equal(decide(p, 'kill', [1, 9]), errno(7));
    assert.equal(decide(p, 'kill', [1, 15]), ALLOW);
    // Different arguments stay one ANDed rule.
    const q = compileSeccomp(
      base({ syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 9, op: 'SCMP_CMP_EQ' }] }] }),
      X,
    ).program;
    assert.equal(decide(q, 'kill', [1, 9]), EPERM);
    assert.equal(decide(q, 'kill', [1, 15]), ALLOW);
    assert.equal(decide(q, 'kill', [2, 9]), ALLOW);
  });

  test('conditional rules come before the unconditional one; rules equal to the default are dropped', () => {
    const p = compileSeccomp(
      base({
        syscalls: [
          { names: ['write'], action: 'SCMP_ACT_ERRNO', errnoRet: 28 },
          { names: ['write'], action: 'SCMP_ACT_KILL_PROCESS', args: [{ index: 0, value: 99, op: 'SCMP_CMP_EQ' }] },
          { names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 3, op: 'SCMP_CMP_EQ' }] },
        ],
      }),
      X,
    ).program;
    assert.equal(decide(p, 'write', [1]), errno(28));
    assert.equal(decide(p, 'write', [99]), KILL_PROCESS);
    assert.equal(decide(p, 'read', [7]), ALLOW);
  });

  test('unknown syscall names are skipped and reported; known-elsewhere names too', () => {
    const r = compileSeccomp(base({ syscalls: [{ names: ['getpid', 'frobnicate_v9', 'chown32'], action: 'SCMP_ACT_ERRNO' }] }), X);
    assert.deepEqual(r.ignoredSyscalls, ['chown32', 'frobnicate_v9'], 'chown32 exists on i386 only');
    assert.equal(decide(r.program, 'getpid'), EPERM);
    const with386 = compileSeccomp(base({ architectures: ['SCMP_ARCH_X86'], syscalls: [{ names: ['chown32', 'frobnicate_v9'], action: 'SCMP_ACT_ERRNO' }] }), X);
    assert.deepEqual(with386.ignoredSyscalls, ['frobnicate_v9']);
    assert.equal(decide(with386.program, 'chown32', [], 'i386'), EPERM);
  });

  test('x32 syscalls: default action unless SCMP_ARCH_X32 is listed; killed under a permissive default', () => {
    const deny = compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }, X).program;
    assert.equal(decide(deny, 'read'), ALLOW);
    assert.equal(decide(deny, 'read', [], 'x32'), EPERM);
    const permissive = compileSeccomp(base({ syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO' }] }), X).program;
    assert.equal(decide(permissive, 'mount'), EPERM);
    assert.equal(decide(permissive, 'mount', [], 'x32'), KILL_PROCESS, 'x32 must not bypass a deny list');
    assert.equal(decide(permissive, 'read', [], 'i386'), KILL_PROCESS, 'i386 not listed');
    const listed = compileSeccomp(base({ architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_X86', 'SCMP_ARCH_AARCH64'], syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO' }] }), X).program;
    assert.equal(decide(listed, 'mount', [], 'x32'), EPERM);
    assert.equal(decide(listed, 'read', [], 'x32'), ALLOW);
    assert.equal(decide(listed, 'mount', [], 'i386'), EPERM);
    assert.equal(decide(listed, 'read', [], 'i386'), ALLOW);
  });

  test('enosysAboveKnown can be turned off', () => {
    const s: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
    assert.equal(decide(compileSeccomp(s, X).program, 'write'), ENOSYS);
    assert.equal(decide(compileSeccomp(s, { ...X, enosysAboveKnown: false }).program, 'write'), EPERM);
  });

  test('flags pass through as the seccomp(2) bit mask', () => {
    assert.equal(compileSeccomp(base({ flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }), X).flags, 6);
    assert.equal(compileSeccomp(base({ flags: ['SECCOMP_FILTER_FLAG_TSYNC' as 'SECCOMP_FILTER_FLAG_LOG'] }), X).flags, 1);
  });

  test('big profiles need long jumps and still decide correctly', () => {
    // Every x86_64 syscall with an argument rule: the tree's early branches
    // must reach far beyond 255 instructions.
    const names = Object.keys(X64).filter((n) => X64[n]! < 300);
    const r = compileSeccomp(
      { defaultAction: 'SCMP_ACT_ERRNO', syscalls: names.map((n) => ({ names: [n], action: 'SCMP_ACT_ALLOW' as const, args: [{ index: 0, value: X64[n]!, op: 'SCMP_CMP_EQ' as const }] })) },
      X,
    );
    assert.ok(r.instructions > 1000, `${r.instructions}`);
    for (const n of names) {
      assert.equal(decide(r.program, n, [X64[n]!]), ALLOW, n);
      assert.equal(decide(r.program, n, [X64[n]! + 1]), EPERM, n);
    }
  });
});

describe('bad seccomp input is a clear error', () => {
  const cases: [string, LinuxSeccomp, string, RegExp][] = [
    ['unknown default action', { defaultAction: 'SCMP_ACT_FLY' as 'SCMP_ACT_ALLOW' }, 'BERTH_SECCOMP_ACTION', /defaultAction.*SCMP_ACT_FLY/],
    ['unknown rule action', base({ syscalls: [{ names: ['read'], action: 'ALLOW' as 'SCMP_ACT_ALLOW' }] }), 'BERTH_SECCOMP_ACTION', /syscalls\[0\]\.action/],
    ['notify', base({ syscalls: [{ names: ['read'], action: 'SCMP_ACT_NOTIFY' }] }), 'BERTH_SECCOMP_UNSUPPORTED', /NOTIFY is not supported/],
    ['unknown op', base({ syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_APPROX' as 'SCMP_CMP_EQ' }] }] }), 'BERTH_SECCOMP_OP', /args\[0\]\.op.*SCMP_CMP_APPROX/],
    ['arg index 6', base({ syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }), 'BERTH_SECCOMP_ARG', /index.*0–5/],
    ['negative value', base({ syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }] }), 'BERTH_SECCOMP_ARG', /unsigned 64-bit/],
    ['unknown arch', base({ architectures: ['SCMP_ARCH_Z80'] }), 'BERTH_SECCOMP_ARCH', /architectures\[0\].*SCMP_ARCH_Z80/],
    ['errnoRet on ALLOW', base({ syscalls: [{ names: ['read'], action: 'SCMP_ACT_KILL', errnoRet: 1 }] }), 'BERTH_SECCOMP_ERRNO', /errnoRet is only valid/],
    ['errno out of range', base({ syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 70000 }] }), 'BERTH_SECCOMP_ERRNO', /0–4095/],
    ['unknown flag', base({ flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }), 'BERTH_SECCOMP_FLAG', /flags\[0\].*notify listener/],
    ['listener', base({ listenerPath: '/run/x.sock' }), 'BERTH_SECCOMP_UNSUPPORTED', /listenerPath/],
    ['empty names', base({ syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }), 'BERTH_SECCOMP_INVALID', /names/],
    ['bad name', base({ syscalls: [{ names: ['read; rm -rf'], action: 'SCMP_ACT_ERRNO' }] }), 'BERTH_SECCOMP_INVALID', /names\[0\]/],
  ];
  for (const [what, input, code, message] of cases) {
    test(what, () => {
      assert.throws(() => compileSeccomp(input, X), (err: any) => {
        assert.equal(err.code, code);
        assert.match(err.message, message);
        assert.equal(err.status, 400);
        return true;
      });
    });
  }

  test('a profile past 4096 instructions is refused', () => {
    const names = Object.keys(X64);
    const rules = names.flatMap((n) => [1, 2, 3, 4].map((v) => ({ names: [n], action: 'SCMP_ACT_ALLOW' as const, args: [{ index: 0, value: v, op: 'SCMP_CMP_EQ' as const }] })));
    assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: rules }, X), { code: 'BERTH_SECCOMP_TOO_LARGE' });
  });
});

describe('compile cache', () => {
  test('equal profiles give equal programs, and callers cannot corrupt the cache', () => {
    const profile = (): LinuxSeccomp => ({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] });
    const a = compileSeccomp(profile(), X);
    a.program.fill(0);
    a.ignoredSyscalls.push('x');
    const b = compileSeccomp(profile(), X);
    assert.equal(decide(b.program, 'read'), ALLOW);
    assert.deepEqual(b.ignoredSyscalls, []);
    // A different option is a different program.
    const c = compileSeccomp(profile(), { ...X, enosysAboveKnown: false });
    assert.equal(decide(c.program, 'getpid'), EPERM);
    assert.equal(decide(b.program, 'getpid'), ENOSYS);
  });
});

describe('a syscall listed twice with different unconditional actions', () => {
  test('the first rule wins, as libseccomp keeps it (podman\'s seccomp.json relies on this for setns)', () => {
    const allowThenErrno: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['setns', 'read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['setns'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      ],
    };
    const a = compileSeccomp(allowThenErrno, X).program;
    const b = compileSeccomp({ ...allowThenErrno, syscalls: [allowThenErrno.syscalls![1]!, allowThenErrno.syscalls![0]!] }, X).program;
    assert.notEqual(decide(a, 'setns'), decide(b, 'setns'));
    assert.equal(decide(a, 'setns'), decide(a, 'read'));
  });
});
