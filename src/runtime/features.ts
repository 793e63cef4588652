/** `berth-runtime features`: what this runtime supports, in the runtime-spec features.json shape. */
import { OCI_RUNTIME_SPEC_VERSION } from '../oci/runtime-spec.ts';
import { LINUX_NAMESPACE_TYPES, LINUX_SECCOMP_ACTIONS } from '../oci/runtime-spec.ts';
import { allKernelCapabilities } from './capabilities.ts';
import { PROPAGATION_OPTIONS } from './mount-options.ts';

export function runtimeFeatures(): Record<string, unknown> {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_RUNTIME_SPEC_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: [
      'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'iversion', 'lazytime', 'loud',
      'mand', 'noatime', 'nodev', 'nodiratime', 'noexec', 'noiversion', 'nolazytime', 'nomand', 'norelatime',
      'nostrictatime', 'nosuid', 'nosymfollow', 'rbind', 'relatime', 'remount', 'ro', 'rw', 'silent', 'strictatime',
      'suid', 'symfollow', 'sync', ...Object.keys(PROPAGATION_OPTIONS),
    ],
    linux: {
      namespaces: [...LINUX_NAMESPACE_TYPES],
      capabilities: allKernelCapabilities(),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        actions: [...LINUX_SECCOMP_ACTIONS].filter((a) => a !== 'SCMP_ACT_NOTIFY'),
        operators: ['SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE'],
        archs: ['SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'],
        knownFlags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
        supportedFlags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
      },
      // Applied (attr/exec) where the host has the LSM; refused where it does not.
      apparmor: { enabled: true },
      selinux: { enabled: true },
      intelRdt: { enabled: false },
    },
    annotations: { 'org.opencontainers.runc.version': 'berth-runtime 0.1.0 (runc-compatible)' },
  };
}
