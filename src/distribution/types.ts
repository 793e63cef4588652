/**
 * Wire formats the registry client reads and writes, in one place: the
 * distribution spec's documents (errors, token answers, catalog, tags) and the
 * docker CLI's config.json and credential-helper protocol. Manifests, indexes,
 * descriptors and media types are the image spec's: src/oci/image-spec.ts.
 */

// ---- distribution spec documents -----------------------------------------

export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

/** Body of a registry's non-2xx answer. */
export interface RegistryErrorBody {
  errors?: RegistryErrorEntry[];
}

/**
 * Answer of a token server (Docker's token auth spec). `token` is the Docker
 * name, `access_token` the OAuth2 one; servers send either or both.
 */
export interface TokenResponse {
  token?: string;
  access_token?: string;
  /** Seconds; the spec's default is 60 when absent. */
  expires_in?: number;
  issued_at?: string;
  /** Returned when offline_token=true / OAuth2 password grant; stored as identitytoken. */
  refresh_token?: string;
}

/** GET /v2/_catalog */
export interface CatalogResponse {
  repositories: string[];
}

/** GET /v2/<name>/tags/list */
export interface TagsListResponse {
  name: string;
  tags: string[] | null;
}

/** One parsed WWW-Authenticate challenge. */
export interface AuthChallenge {
  /** Lower-cased scheme: 'bearer', 'basic', … */
  scheme: string;
  params: Record<string, string>;
}

// ---- docker CLI config (~/.docker/config.json) ----------------------------

export interface DockerAuthEntry {
  /** base64("user:password") */
  auth?: string;
  username?: string;
  password?: string;
  /** OAuth2 refresh token, sent to the token server instead of a password. */
  identitytoken?: string;
  /** Bearer token sent to the registry directly. */
  registrytoken?: string;
  email?: string;
}

export interface DockerConfigFile {
  auths?: Record<string, DockerAuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** What `docker-credential-<name> get` prints. `Username: "<token>"` means Secret is an identity token. */
export interface CredentialHelperAnswer {
  ServerURL?: string;
  Username: string;
  Secret: string;
}

/** Credentials for one registry, whichever way they were found. */
export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker's identitytoken). */
  identityToken?: string;
  /** A bearer token to send as is. */
  registryToken?: string;
}
