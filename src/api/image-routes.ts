/**
 * The image endpoints of the Engine API, as a thin adapter over ImageBackend:
 * parse Docker's parameters, call the service, answer in Docker's shapes
 * (see protocol-traces/docker-pull.txt, docker-images.txt, docker-image-inspect.txt).
 */
import { BerthError } from '../common/errors.ts';
import type { ProgressEvent } from '../common/progress.ts';
import { parseReference, referenceName, referenceString, familiarName, familiarString, validateTag, type ImageReference } from '../image/reference.ts';
import type { RequestContext } from './context.ts';
import type { ImageBackend } from './image-backend.ts';
import { imageHistory, imageInspect, imageSummary, createdSeconds, type ImageFacts } from './image-json.ts';
import { listFilter, pruneFilter } from './image-filters.ts';
import type { Router } from './router.ts';
import type { AuthConfig, ImagesPruneReport } from './types.ts';

/** X-Registry-Auth: base64url (or std base64) JSON AuthConfig; "e30=" is `{}`. Bad headers are 400. */
export function decodeRegistryAuth(header: string | string[] | undefined): AuthConfig | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw new BerthError('BERTH_API_BAD_AUTH', 'invalid X-Registry-Auth header: not base64-encoded JSON', { status: 400 });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BerthError('BERTH_API_BAD_AUTH', 'invalid X-Registry-Auth header: must encode a JSON object', { status: 400 });
  }
  const auth = parsed as AuthConfig;
  return Object.keys(auth).length ? auth : undefined;
}

/** fromImage + tag (a tag or a digest) → one normalised reference; no tag means latest. */
export function pullReference(fromImage: string, tag: string | null): ImageReference {
  let ref = parseReference(fromImage);
  if (tag) {
    if (/^[A-Za-z][A-Za-z0-9]*:[0-9a-fA-F]{32,}$/.test(tag)) ref = parseReference(`${referenceName(ref)}@${tag}`);
    else ref = { ...ref, tag: validateTag(tag), digest: undefined };
  }
  if (!ref.tag && !ref.digest) ref = { ...ref, tag: 'latest' };
  return ref;
}

function required(ctx: RequestContext, name: string): string {
  const v = ctx.query.get(name);
  if (!v) throw new BerthError('BERTH_API_BAD_PARAMETER', `missing required query parameter "${name}"`, { status: 400 });
  return v;
}

export function addImageRoutes(router: Router, images: ImageBackend): void {
  router.post('/images/create', async (ctx) => {
    const fromImage = ctx.query.get('fromImage');
    const fromSrc = ctx.query.get('fromSrc');
    if (fromImage) return pull(ctx, images, fromImage);
    if (fromSrc) return importImage(ctx, images, fromSrc);
    throw new BerthError('BERTH_API_BAD_PARAMETER', 'images/create needs fromImage (pull) or fromSrc (import)', { status: 400 });
  });

  router.get('/images/json', async (ctx) => {
    const all = ctx.flag('all');
    const predicate = await listFilter(ctx.filters(), (n) => images.inspect(n));
    const list = await images.list();
    const parents = new Set(list.map((i) => i.parent).filter((p): p is string => !!p));
    const shown = list
      .filter((i) => all || i.repoTags.length > 0 || !parents.has(i.id)) // hide untagged intermediate images
      .filter(predicate)
      .sort((a, b) => createdSeconds(b.config) - createdSeconds(a.config) || a.id.localeCompare(b.id));
    ctx.sendJson(200, shown.map(imageSummary));
  });

  router.get('/images/search', () => {
    throw new BerthError(
      'BERTH_API_NOT_SUPPORTED',
      'image search is not supported by berth: it needs an index service (Docker Hub search); list a registry with GET /v2/_catalog instead',
      { status: 501 },
    );
  });

  router.get('/images/get', async (ctx) => save(ctx, images, ctx.query.getAll('names')));

  router.post('/images/load', async (ctx) => {
    const quiet = ctx.flag('quiet');
    const stream = ctx.messageStream();
    const result = await images.load(ctx.body(), {
      onProgress: quiet ? undefined : (e) => stream.progress(e),
    });
    for (const name of result.loaded) {
      const isId = /^sha256:[0-9a-f]{64}$/.test(name);
      stream.write({ stream: isId ? `Loaded image ID: ${name}\n` : `Loaded image: ${name}\n` });
    }
    stream.end();
  });

  router.post('/images/prune', async (ctx) => {
    const select = pruneFilter(ctx.filters());
    const { deleted, spaceReclaimed } = await images.prune(select);
    const report: ImagesPruneReport = { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: spaceReclaimed };
    ctx.sendJson(200, report);
  });

  router.get('/images/{name:.*}/json', async (ctx) => ctx.sendJson(200, imageInspect(await images.inspect(ctx.params.name!))));

  router.get('/images/{name:.*}/history', async (ctx) => ctx.sendJson(200, imageHistory(await images.inspect(ctx.params.name!))));

  router.get('/images/{name:.*}/get', async (ctx) => save(ctx, images, [ctx.params.name!]));

  router.post('/images/{name:.*}/tag', async (ctx) => {
    const repo = required(ctx, 'repo');
    const tag = ctx.query.get('tag') || 'latest';
    const target = parseReference(repo);
    if (target.digest) throw new BerthError('BERTH_API_BAD_PARAMETER', 'refusing to create a tag with a digest reference', { status: 400 });
    await images.tag(ctx.params.name!, referenceString({ ...target, tag: validateTag(target.tag ?? tag) }));
    ctx.sendStatus(201);
  });

  router.post('/images/{name:.*}/push', async (ctx) => push(ctx, images, ctx.params.name!));

  router.delete('/images/{name:.*}', async (ctx) => {
    const items = await images.remove(ctx.params.name!, { force: ctx.flag('force'), noPrune: ctx.flag('noprune') });
    ctx.sendJson(200, items);
  });
}

async function pull(ctx: RequestContext, images: ImageBackend, fromImage: string): Promise<void> {
  const ref = pullReference(fromImage, ctx.query.get('tag'));
  const auth = decodeRegistryAuth(ctx.req.headers['x-registry-auth']);
  const stream = ctx.messageStream();
  // dockerd writes "Pulling from" once the manifest is found; an error before
  // that is an HTTP error status (the CLI prints "Error response from daemon").
  let announced = false;
  const announce = () => {
    if (announced) return;
    announced = true;
    const path = ref.domain === 'docker.io' ? familiarName(ref) : ref.path;
    stream.write({ status: `Pulling from ${path}`, id: ref.tag ?? ref.digest! });
  };
  const abort = new AbortController();
  ctx.req.socket?.once('close', () => abort.abort());
  const outcome = await images.pull({
    reference: referenceString(ref),
    platform: ctx.query.get('platform') || undefined,
    auth,
    signal: abort.signal,
    onProgress: (e: ProgressEvent) => {
      announce();
      stream.progress(e);
    },
  });
  announce();
  stream.status(`Digest: ${outcome.digest}`);
  const shown = familiarString(ref);
  stream.status(outcome.downloaded ? `Status: Downloaded newer image for ${shown}` : `Status: Image is up to date for ${shown}`);
  stream.end();
}

async function importImage(ctx: RequestContext, images: ImageBackend, fromSrc: string): Promise<void> {
  if (fromSrc !== '-') {
    throw new BerthError('BERTH_API_NOT_SUPPORTED', `import from a URL (${fromSrc}) is not supported: send the tarball as the request body with fromSrc=-`, {
      status: 400,
    });
  }
  let reference: string | undefined;
  const repo = ctx.query.get('repo');
  if (repo) {
    const ref = parseReference(repo);
    const tag = ctx.query.get('tag');
    reference = referenceString({ ...ref, digest: undefined, tag: tag ? validateTag(tag) : (ref.tag ?? 'latest') });
  }
  const result = await images.importImage({
    source: ctx.body(),
    reference,
    changes: ctx.query.getAll('changes').filter((c) => c !== ''),
    message: ctx.query.get('message') || undefined,
    platform: ctx.query.get('platform') || undefined,
  });
  const stream = ctx.messageStream();
  stream.status(result.id);
  stream.end();
}

async function push(ctx: RequestContext, images: ImageBackend, name: string): Promise<void> {
  const ref = parseReference(name);
  if (ref.digest) throw new BerthError('BERTH_API_BAD_PARAMETER', 'cannot push a digest reference', { status: 400 });
  const queryTag = ctx.query.get('tag');
  const repoName = referenceName(ref);
  let targets: string[];
  if (ref.tag || queryTag) {
    targets = [`${repoName}:${validateTag(queryTag || ref.tag!)}`];
  } else {
    // No tag: every local tag of the repository (docker push --all-tags).
    targets = (await images.list()).flatMap((i) => i.repoTags).filter((t) => t.startsWith(repoName + ':')).sort();
  }
  const shownRepo = ref.domain === 'docker.io' ? `docker.io/${ref.path}` : repoName;
  if (!targets.length) {
    throw new BerthError('BERTH_IMAGE_NOT_FOUND', `An image does not exist locally with the tag: ${familiarName(ref)}`, { status: 404 });
  }
  // Fail before streaming if the image is missing, as dockerd does.
  await images.inspect(targets[0]!).catch((err: unknown) => {
    if (err instanceof BerthError && err.status === 404) {
      throw new BerthError('BERTH_IMAGE_NOT_FOUND', `An image does not exist locally with the tag: ${familiarString(parseReference(targets[0]!))}`, {
        status: 404,
      });
    }
    throw err;
  });
  const auth = decodeRegistryAuth(ctx.req.headers['x-registry-auth']);
  const stream = ctx.messageStream();
  stream.status(`The push refers to repository [${shownRepo}]`);
  const abort = new AbortController();
  ctx.req.socket?.once('close', () => abort.abort());
  for (const target of targets) {
    const outcome = await images.push({ reference: target, auth, signal: abort.signal, onProgress: (e) => stream.progress(e) });
    stream.status(`${outcome.tag}: digest: ${outcome.digest} size: ${outcome.size}`);
    stream.write({ progressDetail: {}, aux: { Tag: outcome.tag, Digest: outcome.digest, Size: outcome.size } });
  }
  stream.end();
}

async function save(ctx: RequestContext, images: ImageBackend, names: string[]): Promise<void> {
  if (!names.length) throw new BerthError('BERTH_API_BAD_PARAMETER', 'no images to save: give names=IMAGE', { status: 400 });
  // Resolve every name first, so a missing one is a 404, not a broken tarball.
  for (const n of names) await images.inspect(n);
  const res = ctx.res!;
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  try {
    await images.save(names, res, { platform: ctx.query.get('platform') || undefined });
    res.end();
  } catch (err) {
    // Headers are gone: cut the connection so the client sees a failed, not a short, archive.
    res.destroy(err as Error);
  }
}

export type { ImageFacts };
