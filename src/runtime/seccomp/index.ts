export { compileSeccomp, seccompActionValue, SECCOMP_FILTER_FLAGS } from './compile.ts';
export type { CompileSeccompOptions, CompiledSeccomp } from './compile.ts';
export { defaultSeccompProfile, CLONE_NAMESPACE_FLAGS } from './default-profile.ts';
export type { DefaultProfileOptions } from './default-profile.ts';
export { decodeProgram } from './bpf.ts';
