import { arch } from 'node:os';

/** Node's name for the CPU architecture → Go's (GOARCH), as Docker's APIs report it. */
export function goArch(nodeArch: string = arch()): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[nodeArch] ?? nodeArch;
}
