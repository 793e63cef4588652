import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { seccompFromDockerProfile, parseDockerSeccompProfile } from '../../../src/runtime/seccomp/docker-profile.ts';
import { DOCKER_DEFAULT_SECCOMP_PROFILE } from '../../../src/runtime/seccomp/default-profile.ts';
import { compileSeccomp } from '../../../src/runtime/seccomp/compile.ts';
import { SYSCALLS_X86_64 as X64 } from '../../../src/runtime/seccomp/syscalls-x86_64.ts';
import { runFilter } from './bpf-interpreter.ts';

const ctx = { capabilities: ['CAP_CHOWN'], goArch: 'amd64', kernelRelease: '6.1.0-28-amd64' };

describe('Docker-format seccomp profiles', () => {
  test('a profile as the docker CLI sends it resolves and compiles', () => {
    const json = JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      syscalls: [
        { name: 'mkdir', action: 'SCMP_ACT_ERRNO', errnoRet: 28 },
        { names: ['chmod', 'fchmod'], action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_CHOWN', 'CAP_FOWNER'] } },
        { names: ['chown'], action: 'SCMP_ACT_ERRNO', excludes: { caps: ['CAP_CHOWN'] } },
        { names: ['uname'], action: 'SCMP_ACT_ERRNO', includes: { minKernel: '7.0' } },
        { names: ['getcwd'], action: 'SCMP_ACT_ERRNO', excludes: { minKernel: '5.10' } },
        { names: ['sync'], action: 'SCMP_ACT_KILL', includes: { arches: ['arm64'] } },
      ],
    });
    const oci = seccompFromDockerProfile(json, ctx);
    assert.deepEqual(oci, {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 28 }],
    });
    const program = compileSeccomp(oci, { arch: 'SCMP_ARCH_X86_64' }).program;
    assert.equal(runFilter(program, { nr: X64.mkdir!, arch: 0xc000003e }).ret, 0x0005001c);
    assert.equal(runFilter(program, { nr: X64.chown!, arch: 0xc000003e }).ret, 0x7fff0000);
  });

  test('all listed include caps are needed; any exclude cap removes the rule', () => {
    const profile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['a_rule'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'] } },
        { names: ['b_rule'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_NET_ADMIN', 'CAP_SYS_TIME'] } },
      ],
    };
    const names = (caps: string[]) => seccompFromDockerProfile(profile, { ...ctx, capabilities: caps }).syscalls!.flatMap((s) => s.names);
    assert.deepEqual(names(['sys_admin']), ['b_rule']);
    assert.deepEqual(names(['CAP_SYS_ADMIN', 'net_admin']), ['a_rule']);
    assert.deepEqual(names(['CAP_SYS_TIME']), []);
  });

  test('archMap picks the native entry and its sub-architectures', () => {
    const amd = seccompFromDockerProfile(DOCKER_DEFAULT_SECCOMP_PROFILE, ctx);
    assert.deepEqual(amd.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const s390 = seccompFromDockerProfile(DOCKER_DEFAULT_SECCOMP_PROFILE, { ...ctx, goArch: 's390x' });
    assert.deepEqual(s390.architectures, ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390']);
    // s390 gets the second-argument clone rule, amd64 the first.
    assert.equal(s390.syscalls!.find((r) => r.names.includes('clone') && r.args)!.args![0]!.index, 1);
    assert.equal(amd.syscalls!.find((r) => r.names.includes('clone') && r.args)!.args![0]!.index, 0);
  });

  test('flags, errno and listener fields pass through', () => {
    const oci = seccompFromDockerProfile({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, flags: ['SECCOMP_FILTER_FLAG_LOG'] }, ctx);
    assert.equal(oci.defaultErrnoRet, 38);
    assert.deepEqual(oci.flags, ['SECCOMP_FILTER_FLAG_LOG']);
  });

  test('bad profiles are clear errors', () => {
    const bad: [string, RegExp][] = [
      ['{not json', /not valid JSON/],
      ['[]', /expected a JSON object/],
      ['{}', /defaultAction: required/],
      [JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: [] }] }), /both 'architectures' and 'archMap'/],
      [JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ERRNO' }] }), /syscalls\[0\].*either 'name' or 'names'/],
      [JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }), /syscalls\[0\]: no syscall names/],
      [JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ERRNO', includes: { minKernel: 'new' } }] }), /syscalls\[0\]\.includes\.minKernel/],
    ];
    for (const [json, message] of bad) {
      assert.throws(() => seccompFromDockerProfile(json, ctx), (err: any) => err.code === 'BERTH_SECCOMP_PROFILE' && err.status === 400 && message.test(err.message), json);
    }
    assert.equal(parseDockerSeccompProfile('{"defaultAction":"SCMP_ACT_LOG"}').defaultAction, 'SCMP_ACT_LOG');
  });
});
