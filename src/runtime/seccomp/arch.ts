/**
 * Seccomp architectures: the OCI/libseccomp names (SCMP_ARCH_*), the audit
 * arch token the kernel puts in seccomp_data.arch, and the system call table
 * used to resolve names for that ABI.
 */
import { BerthError } from '../../common/errors.ts';
import { SYSCALLS_X86_64 } from './syscalls-x86_64.ts';
import { SYSCALLS_I386 } from './syscalls-i386.ts';
import { SYSCALLS_X32 } from './syscalls-x32.ts';

// linux/audit.h: EM_* | __AUDIT_ARCH_64BIT (0x80000000) | __AUDIT_ARCH_LE (0x40000000)
export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;

/** x32 system calls arrive with AUDIT_ARCH_X86_64 and this bit set in the number. */
export const X32_SYSCALL_BIT = 0x40000000;

export interface SeccompArch {
  /** SCMP_ARCH_* */
  name: string;
  auditArch: number;
  syscalls: Readonly<Record<string, number>>;
}

export const ARCH_X86_64: SeccompArch = { name: 'SCMP_ARCH_X86_64', auditArch: AUDIT_ARCH_X86_64, syscalls: SYSCALLS_X86_64 };
export const ARCH_X86: SeccompArch = { name: 'SCMP_ARCH_X86', auditArch: AUDIT_ARCH_I386, syscalls: SYSCALLS_I386 };
export const ARCH_X32: SeccompArch = { name: 'SCMP_ARCH_X32', auditArch: AUDIT_ARCH_X86_64, syscalls: SYSCALLS_X32 };

/** Architectures this compiler has tables for (the ones an x86_64 kernel runs). */
export const COMPILED_ARCHES: ReadonlyMap<string, SeccompArch> = new Map([
  [ARCH_X86_64.name, ARCH_X86_64],
  [ARCH_X86.name, ARCH_X86],
  [ARCH_X32.name, ARCH_X32],
]);

/**
 * Every name the runtime spec allows in `architectures`. The ones without a
 * table here belong to other CPUs: a process on an x86_64 kernel can never
 * present their audit token, so a profile listing them (Docker's arm64 or s390x
 * profiles, a multi-arch profile) compiles fine with those entries skipped.
 */
export const KNOWN_ARCH_NAMES: ReadonlySet<string> = new Set([
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_RISCV64',
  'SCMP_ARCH_LOONGARCH64',
  'SCMP_ARCH_M68K',
  'SCMP_ARCH_SH',
  'SCMP_ARCH_SHEB',
]);

/** Node's process.arch → the native seccomp arch (what the filter always covers). */
export function nativeSeccompArch(nodeArch: string = process.arch): string {
  switch (nodeArch) {
    case 'x64':
      return 'SCMP_ARCH_X86_64';
    case 'ia32':
      return 'SCMP_ARCH_X86';
    default:
      throw new BerthError('BERTH_SECCOMP_ARCH', `seccomp: no system call tables for host architecture ${nodeArch} (supported: x64, ia32)`, { status: 400 });
  }
}

/** Look up an arch by SCMP_ARCH_* name; unknown names are errors, foreign ones return undefined. */
export function resolveArch(name: string, where: string): SeccompArch | undefined {
  if (typeof name !== 'string' || !KNOWN_ARCH_NAMES.has(name)) {
    throw new BerthError('BERTH_SECCOMP_ARCH', `${where}: unknown seccomp architecture ${JSON.stringify(name)} (expected SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_AARCH64, …)`, { status: 400 });
  }
  return COMPILED_ARCHES.get(name);
}
