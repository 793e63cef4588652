/**
 * Docker's default seccomp profile (moby profiles/seccomp/default.json), as a
 * function of the container's capabilities: the same allow list, the same
 * capability-gated rules (CAP_SYS_ADMIN unlocks mount/unshare/setns/clone with
 * namespace flags …), the same argument rules (socket not AF_VSOCK, the five
 * personality values, clone without namespace flags) and EPERM for the rest.
 *
 * The profile is kept in Docker's own format and resolved per container by
 * the same code that resolves user profiles (docker-profile.ts), so the
 * default and `--security-opt seccomp=file.json` follow one set of rules.
 */
import type { LinuxSeccomp } from '../../oci/runtime-spec.ts';
import { seccompFromDockerProfile, type DockerSeccompProfile, type DockerSeccompRule } from './docker-profile.ts';

/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET = 0x7E020000 (2114060288). */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;
/** AF_VSOCK: moby keeps containers off vsock sockets. */
const AF_VSOCK = 40;

const ALLOWED: string[] = [
  'accept', 'accept4', 'access', 'adjtimex', 'alarm', 'bind', 'brk', 'capget', 'capset', 'chdir', 'chmod',
  'chown', 'chown32', 'clock_adjtime', 'clock_adjtime64', 'clock_getres', 'clock_getres_time64',
  'clock_gettime', 'clock_gettime64', 'clock_nanosleep', 'clock_nanosleep_time64', 'close', 'close_range',
  'connect', 'copy_file_range', 'creat', 'dup', 'dup2', 'dup3', 'epoll_create', 'epoll_create1', 'epoll_ctl',
  'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait', 'epoll_wait_old', 'eventfd', 'eventfd2',
  'execve', 'execveat', 'exit', 'exit_group', 'faccessat', 'faccessat2', 'fadvise64', 'fadvise64_64',
  'fallocate', 'fanotify_mark', 'fchdir', 'fchmod', 'fchmodat', 'fchown', 'fchown32', 'fchownat', 'fcntl',
  'fcntl64', 'fdatasync', 'fgetxattr', 'flistxattr', 'flock', 'fork', 'fremovexattr', 'fsetxattr', 'fstat',
  'fstat64', 'fstatat64', 'fstatfs', 'fstatfs64', 'fsync', 'ftruncate', 'ftruncate64', 'futex',
  'futex_time64', 'futex_waitv', 'futimesat', 'getcpu', 'getcwd', 'getdents', 'getdents64', 'getegid',
  'getegid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getitimer',
  'getpeername', 'getpgid', 'getpgrp', 'getpid', 'getppid', 'getpriority', 'getrandom', 'getresgid',
  'getresgid32', 'getresuid', 'getresuid32', 'getrlimit', 'get_robust_list', 'getrusage', 'getsid',
  'getsockname', 'getsockopt', 'get_thread_area', 'gettid', 'gettimeofday', 'getuid', 'getuid32',
  'getxattr', 'inotify_add_watch', 'inotify_init', 'inotify_init1', 'inotify_rm_watch', 'io_cancel', 'ioctl',
  'io_destroy', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'ioprio_get', 'ioprio_set',
  'io_setup', 'io_submit', 'io_uring_enter', 'io_uring_register', 'io_uring_setup', 'ipc', 'kill',
  'landlock_add_rule', 'landlock_create_ruleset', 'landlock_restrict_self', 'lchown', 'lchown32',
  'lgetxattr', 'link', 'linkat', 'listen', 'listxattr', 'llistxattr', '_llseek', 'lremovexattr', 'lseek',
  'lsetxattr', 'lstat', 'lstat64', 'madvise', 'membarrier', 'memfd_create', 'memfd_secret', 'mincore',
  'mkdir', 'mkdirat', 'mknod', 'mknodat', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mmap2', 'mprotect',
  'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend',
  'mq_timedsend_time64', 'mq_unlink', 'mremap', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'msync', 'munlock',
  'munlockall', 'munmap', 'name_to_handle_at', 'nanosleep', 'newfstatat', '_newselect', 'open', 'openat',
  'openat2', 'pause', 'pidfd_open', 'pidfd_send_signal', 'pipe', 'pipe2', 'pkey_alloc', 'pkey_free',
  'pkey_mprotect', 'poll', 'ppoll', 'ppoll_time64', 'prctl', 'pread64', 'preadv', 'preadv2', 'prlimit64',
  'process_mrelease', 'pselect6', 'pselect6_time64', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead',
  'readlink', 'readlinkat', 'readv', 'recv', 'recvfrom', 'recvmmsg', 'recvmmsg_time64', 'recvmsg',
  'remap_file_pages', 'removexattr', 'rename', 'renameat', 'renameat2', 'restart_syscall', 'rmdir', 'rseq',
  'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn', 'rt_sigsuspend',
  'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo', 'sched_getaffinity', 'sched_getattr',
  'sched_getparam', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_getscheduler',
  'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_setaffinity', 'sched_setattr',
  'sched_setparam', 'sched_setscheduler', 'sched_yield', 'seccomp', 'select', 'semctl', 'semget', 'semop',
  'semtimedop', 'semtimedop_time64', 'send', 'sendfile', 'sendfile64', 'sendmmsg', 'sendmsg', 'sendto',
  'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32', 'setgid', 'setgid32', 'setgroups', 'setgroups32',
  'setitimer', 'setpgid', 'setpriority', 'setregid', 'setregid32', 'setresgid', 'setresgid32', 'setresuid',
  'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'set_robust_list', 'setsid', 'setsockopt',
  'set_thread_area', 'set_tid_address', 'setuid', 'setuid32', 'setxattr', 'shmat', 'shmctl', 'shmdt',
  'shmget', 'shutdown', 'sigaltstack', 'signalfd', 'signalfd4', 'sigprocmask', 'sigreturn', 'socketcall',
  'socketpair', 'splice', 'stat', 'stat64', 'statfs', 'statfs64', 'statx', 'symlink', 'symlinkat', 'sync',
  'sync_file_range', 'syncfs', 'sysinfo', 'tee', 'tgkill', 'time', 'timer_create', 'timer_delete',
  'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime', 'timer_settime64',
  'timerfd_create', 'timerfd_gettime', 'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64', 'times',
  'tkill', 'truncate', 'truncate64', 'ugetrlimit', 'umask', 'uname', 'unlink', 'unlinkat', 'utime',
  'utimensat', 'utimensat_time64', 'utimes', 'vfork', 'vmsplice', 'wait4', 'waitid', 'waitpid', 'write',
  'writev',
];

const allow = (names: string[], extra: Partial<DockerSeccompRule> = {}): DockerSeccompRule => ({ names, action: 'SCMP_ACT_ALLOW', ...extra });
const onlyCaps = (...caps: string[]) => ({ includes: { caps } });
const onlyArches = (...arches: string[]) => ({ includes: { arches } });
const eq0 = (value: number) => [{ index: 0, value, op: 'SCMP_CMP_EQ' as const }];

export const DOCKER_DEFAULT_SECCOMP_PROFILE: DockerSeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 1,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    { architecture: 'SCMP_ARCH_MIPS64', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'] },
    { architecture: 'SCMP_ARCH_MIPS64N32', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'] },
    { architecture: 'SCMP_ARCH_MIPSEL64', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'] },
    { architecture: 'SCMP_ARCH_MIPSEL64N32', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'] },
    { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
    { architecture: 'SCMP_ARCH_RISCV64', subArchitectures: null },
  ],
  syscalls: [
    allow(ALLOWED),
    allow(['process_vm_readv', 'process_vm_writev', 'ptrace'], { includes: { minKernel: '4.8' } }),
    allow(['socket'], { args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] }),
    // PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query).
    ...[0x0, 0x8, 0x20000, 0x20008, 0xffffffff].map((v) => allow(['personality'], { args: eq0(v) })),
    allow(['sync_file_range2', 'swapcontext'], onlyArches('ppc64le')),
    allow(['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'], onlyArches('arm', 'arm64')),
    allow(['arch_prctl'], onlyArches('amd64', 'x32')),
    allow(['modify_ldt'], onlyArches('amd64', 'x32', 'x86')),
    allow(['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'], onlyArches('s390', 's390x')),
    allow(['riscv_flush_icache'], onlyArches('riscv64')),
    allow(['open_by_handle_at'], onlyCaps('CAP_DAC_READ_SEARCH')),
    allow(
      [
        'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'mount', 'mount_setattr',
        'move_mount', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog',
        'umount', 'umount2', 'unshare',
      ],
      onlyCaps('CAP_SYS_ADMIN'),
    ),
    // Without CAP_SYS_ADMIN: clone only without namespace flags (threads and fork still work).
    allow(['clone'], { args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] } }),
    // s390 passes clone's flags second.
    allow(['clone'], { args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }], includes: { arches: ['s390', 's390x'] }, excludes: { caps: ['CAP_SYS_ADMIN'] } }),
    // clone3's flags live in memory seccomp cannot inspect: ENOSYS makes glibc fall back to clone.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    allow(['reboot'], onlyCaps('CAP_SYS_BOOT')),
    allow(['chroot'], onlyCaps('CAP_SYS_CHROOT')),
    allow(['delete_module', 'init_module', 'finit_module'], onlyCaps('CAP_SYS_MODULE')),
    allow(['acct'], onlyCaps('CAP_SYS_PACCT')),
    allow(['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'], onlyCaps('CAP_SYS_PTRACE')),
    allow(['iopl', 'ioperm'], onlyCaps('CAP_SYS_RAWIO')),
    allow(['settimeofday', 'stime', 'clock_settime', 'clock_settime64'], onlyCaps('CAP_SYS_TIME')),
    allow(['vhangup'], onlyCaps('CAP_SYS_TTY_CONFIG')),
    allow(['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'], onlyCaps('CAP_SYS_NICE')),
    allow(['syslog'], onlyCaps('CAP_SYSLOG')),
    allow(['bpf'], onlyCaps('CAP_BPF')),
    allow(['perf_event_open'], onlyCaps('CAP_PERFMON')),
  ],
};

export interface DefaultProfileOptions {
  /** Go GOARCH name of the target (default: this host's). */
  goArch?: string;
  /** Kernel release, "6.1.0-…" (default: this host's). */
  kernelRelease?: string;
}

/**
 * Docker's default profile for a container granted `capabilities` (the
 * bounding set; names with or without CAP_, any case).
 */
export function defaultSeccompProfile(capabilities: readonly string[], opts: DefaultProfileOptions = {}): LinuxSeccomp {
  return seccompFromDockerProfile(DOCKER_DEFAULT_SECCOMP_PROFILE, { capabilities, ...opts });
}
