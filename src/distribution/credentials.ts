/**
 * Credentials the way the docker CLI keeps them, so `docker login` and
 * `berth login` share one file: ~/.docker/config.json (or $DOCKER_CONFIG/
 * config.json) with `auths` entries (base64 `auth`, `identitytoken`), and
 * credential helpers (`credsStore` for all registries, `credHelpers` per
 * registry) that are the `docker-credential-<name>` programs speaking JSON on
 * stdin/stdout.
 */
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../common/errors.ts';
import { writeJsonAtomic } from '../common/atomic-write.ts';
import type { CredentialHelperAnswer, Credentials, DockerAuthEntry, DockerConfigFile } from './types.ts';

/** $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, 'config.json');
  return join(env.HOME || homedir(), '.docker', 'config.json');
}

/** Parsed config.json; a missing file is an empty config, a broken one a clear error. */
export async function readDockerConfig(path: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BerthError('BERTH_DISTRIBUTION_CONFIG_UNREADABLE', `cannot read docker config ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BerthError('BERTH_DISTRIBUTION_CONFIG_INVALID', `docker config ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BerthError('BERTH_DISTRIBUTION_CONFIG_INVALID', `docker config ${path} must hold a JSON object`);
  }
  const config = parsed as DockerConfigFile;
  if (config.auths !== undefined && (typeof config.auths !== 'object' || config.auths === null || Array.isArray(config.auths))) {
    throw new BerthError('BERTH_DISTRIBUTION_CONFIG_INVALID', `docker config ${path}: "auths" must be an object`);
  }
  return config;
}

/** `https://host:5000/v2/` and `host:5000` name the same registry (docker's ConvertToHostname). */
export function normaliseAuthKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  return k.toLowerCase();
}

function findAuthEntry(config: DockerConfigFile, key: string): [string, DockerAuthEntry] | undefined {
  const auths = config.auths ?? {};
  if (auths[key]) return [key, auths[key]];
  const wanted = normaliseAuthKey(key);
  for (const [k, entry] of Object.entries(auths)) {
    if (normaliseAuthKey(k) === wanted) return [k, entry];
  }
  return undefined;
}

function helperFor(config: DockerConfigFile, key: string): string | undefined {
  const helpers = config.credHelpers ?? {};
  if (helpers[key]) return helpers[key];
  const wanted = normaliseAuthKey(key);
  for (const [k, helper] of Object.entries(helpers)) if (normaliseAuthKey(k) === wanted) return helper;
  return config.credsStore || undefined;
}

function decodeAuthEntry(entry: DockerAuthEntry, key: string, path: string): Credentials | undefined {
  const creds: Credentials = {};
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new BerthError('BERTH_DISTRIBUTION_CONFIG_INVALID', `docker config ${path}: auths["${key}"].auth is not base64 of "user:password"`);
    }
    creds.username = decoded.slice(0, colon);
    creds.password = decoded.slice(colon + 1);
  } else if (entry.username !== undefined) {
    creds.username = entry.username;
    creds.password = entry.password ?? '';
  }
  if (entry.identitytoken) creds.identityToken = entry.identitytoken;
  if (entry.registrytoken) creds.registryToken = entry.registrytoken;
  return Object.keys(creds).length ? creds : undefined;
}

/**
 * Credentials stored for `key` (an auths key as from authKeyFor()), from the
 * credential helper if one is configured for it, else from `auths`.
 */
export async function lookupCredentials(key: string, configPath = dockerConfigPath()): Promise<Credentials | undefined> {
  const config = await readDockerConfig(configPath);
  const helper = helperFor(config, key);
  if (helper) {
    const answer = await callCredentialHelper(helper, 'get', key, configPath);
    if (answer === undefined) return undefined;
    const parsed = parseHelperAnswer(answer, helper);
    if (!parsed.Secret) return undefined;
    return parsed.Username === '<token>' ? { identityToken: parsed.Secret } : { username: parsed.Username, password: parsed.Secret };
  }
  const found = findAuthEntry(config, key);
  return found ? decodeAuthEntry(found[1], found[0], configPath) : undefined;
}

/**
 * Save credentials for `key`: through the credential helper if configured,
 * else in `auths` (base64 user:password, or identitytoken when the registry
 * handed one out). The file is rewritten atomically with mode 0600; every other
 * field of it is kept.
 */
export async function storeCredentials(key: string, creds: Credentials, configPath = dockerConfigPath()): Promise<void> {
  const config = await readDockerConfig(configPath);
  const helper = helperFor(config, key);
  if (helper) {
    const secret = creds.identityToken ?? creds.password ?? '';
    const username = creds.identityToken ? '<token>' : (creds.username ?? '');
    await callCredentialHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: username, Secret: secret }), configPath);
    // docker keeps an empty entry so `docker info`/`logout` know the registry is logged in.
    config.auths = { ...(config.auths ?? {}), [key]: {} };
  } else {
    const entry: DockerAuthEntry = {};
    if (creds.identityToken) {
      entry.identitytoken = creds.identityToken;
      if (creds.username) entry.auth = Buffer.from(`${creds.username}:`).toString('base64');
    } else {
      entry.auth = Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64');
    }
    const auths = { ...(config.auths ?? {}) };
    const old = findAuthEntry(config, key);
    if (old && old[0] !== key) delete auths[old[0]];
    auths[key] = entry;
    config.auths = auths;
  }
  await writeJsonAtomic(configPath, config, 0o600);
}

/** Forget credentials for `key`. Returns false if there were none. */
export async function eraseCredentials(key: string, configPath = dockerConfigPath()): Promise<boolean> {
  const config = await readDockerConfig(configPath);
  const helper = helperFor(config, key);
  let removed = false;
  if (helper) {
    const answer = await callCredentialHelper(helper, 'erase', key, configPath);
    removed = answer !== undefined;
  }
  const auths = { ...(config.auths ?? {}) };
  const wanted = normaliseAuthKey(key);
  for (const k of Object.keys(auths)) {
    if (k === key || normaliseAuthKey(k) === wanted) {
      delete auths[k];
      removed = true;
    }
  }
  if (!removed) return false;
  config.auths = auths;
  await writeJsonAtomic(configPath, config, 0o600);
  return true;
}

function parseHelperAnswer(text: string, helper: string): CredentialHelperAnswer {
  try {
    const parsed = JSON.parse(text) as CredentialHelperAnswer;
    if (typeof parsed.Secret !== 'string' || typeof parsed.Username !== 'string') throw new Error('missing Username/Secret');
    return parsed;
  } catch (err) {
    throw new BerthError('BERTH_DISTRIBUTION_CREDENTIAL_HELPER_FAILED', `docker-credential-${helper} get answered something that is not {"Username","Secret"} JSON: ${(err as Error).message}`);
  }
}

const NOT_FOUND_ANSWER = /credentials not found/i;

/**
 * Run `docker-credential-<helper> <action>` with `input` on stdin. Resolves
 * with stdout, or undefined when the helper says it has no such credentials.
 */
export function callCredentialHelper(helper: string, action: 'get' | 'store' | 'erase', input: string, configPath: string): Promise<string | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) {
    return Promise.reject(new BerthError('BERTH_DISTRIBUTION_CONFIG_INVALID', `docker config ${configPath}: credential helper name "${helper}" is not a plain program suffix`));
  }
  const program = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        reject(
          new BerthError(
            'BERTH_DISTRIBUTION_CREDENTIAL_HELPER_MISSING',
            `docker config ${configPath} names credential helper "${helper}", but ${program} is not on PATH; install it or remove "credsStore"/"credHelpers" from the config`,
          ),
        );
      } else reject(new BerthError('BERTH_DISTRIBUTION_CREDENTIAL_HELPER_FAILED', `${program} ${action}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) {
        resolve(stdout);
        return;
      }
      const message = (stdout + Buffer.concat(err).toString('utf8')).trim();
      if (NOT_FOUND_ANSWER.test(message)) {
        resolve(undefined);
        return;
      }
      reject(new BerthError('BERTH_DISTRIBUTION_CREDENTIAL_HELPER_FAILED', `${program} ${action} exited ${code}: ${message || '(no output)'}`));
    });
    child.stdin.on('error', () => {
      /* helper exited without reading stdin; its exit code tells the story */
    });
    child.stdin.end(input);
  });
}
