import { arch } from 'node:os';

const GOARCH_BY_NODE_ARCH: Readonly<Record<string, string>> = Object.freeze({
  x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle',
});

/** Node's name for the CPU architecture → Go's (GOARCH), as Docker's APIs, image platforms and seccomp profiles name it. */
export function goArch(nodeArch: string = arch()): string {
  return GOARCH_BY_NODE_ARCH[nodeArch] ?? nodeArch;
}
