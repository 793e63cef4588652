export { compileSeccomp, seccompActionValue, SECCOMP_FILTER_FLAGS } from './compile.ts';
export type { CompileSeccompOptions, CompiledSeccomp } from './compile.ts';
export { defaultSeccompProfile, CLONE_NAMESPACE_FLAGS, DOCKER_DEFAULT_SECCOMP_PROFILE } from './default-profile.ts';
export { seccompFromDockerProfile, parseDockerSeccompProfile } from './docker-profile.ts';
export type { DockerSeccompProfile, DockerSeccompRule, DockerSeccompFilter, DockerProfileContext } from './docker-profile.ts';
export type { DefaultProfileOptions } from './default-profile.ts';
export { decodeProgram } from './bpf.ts';
