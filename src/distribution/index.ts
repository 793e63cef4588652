/** The registry client's public surface: pull, push, login/logout and the client itself. */
export { pullImage } from './pull.ts';
export type { PullOptions, PullResult } from './pull.ts';
export { pushImage } from './push.ts';
export type { PushOptions, PushResult } from './push.ts';
export { login, logout, normaliseRegistryName } from './login.ts';
export type { LoginOptions, LoginResult, LogoutResult } from './login.ts';
export { RegistryClient } from './client.ts';
export type { RegistryClientOptions } from './client.ts';
export { dockerConfigPath, lookupCredentials, storeCredentials, eraseCredentials, readDockerConfig } from './credentials.ts';
export { apiHostFor, authKeyFor, isLoopbackHost, isInsecureAllowed } from './hosts.ts';
export type * from './types.ts';
