/**
 * The image endpoints of the Engine API: a thin adapter over ImageService
 * (src/image/service.ts) and the archive code (src/image/archive/). Parse
 * Docker's parameters, call the service, answer in Docker's shapes — see
 * protocol-traces/docker-pull.txt, docker-images.txt, docker-image-inspect.txt.
 */
import { BerthError, isBerthError } from '../common/errors.ts';
import type { ProgressEvent } from '../common/progress.ts';
import type { Credentials } from '../distribution/types.ts';
import { importRootfs, loadImages, saveImages } from '../image/archive/index.ts';
import { parseReference, referenceName, referenceString, familiarName, familiarString, validateTag, type ImageReference } from '../image/reference.ts';
import { referenceMatches, type ImageService } from '../image/service.ts';
import type { RequestContext } from './context.ts';
import { imageHistory, imageInspect, imageSummary } from './image-json.ts';
import type { JsonMessageStream } from './json-progress.ts';
import type { Router } from './router.ts';
import type { AuthConfig, ImageDeleteResponseItem, ImagesPruneReport } from './types.ts';
import type { EventHub } from './events.ts';

/** X-Registry-Auth: base64url (or std base64) JSON AuthConfig; "e30=" is `{}`. A bad header is a 400. */
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
  return parsed as AuthConfig;
}

/** Docker's AuthConfig → the registry client's credentials; none given → the daemon's config.json. */
export function credentialsFrom(auth: AuthConfig | undefined): Credentials | undefined {
  if (!auth) return undefined;
  const creds: Credentials = {};
  let { username, password } = auth;
  if ((!username || !password) && auth.auth) {
    const text = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) {
      username = text.slice(0, colon);
      password = text.slice(colon + 1);
    }
  }
  if (username) creds.username = username;
  if (password) creds.password = password;
  if (auth.identitytoken) creds.identityToken = auth.identitytoken;
  if (auth.registrytoken) creds.registryToken = auth.registrytoken;
  return Object.keys(creds).length ? creds : undefined;
}

/** fromImage + tag (a tag or a digest) → one normalised reference; no tag means latest. */
export function pullReference(fromImage: string, tag: string | null): ImageReference {
  let ref = parseReference(fromImage);
  if (tag) {
    if (/^[A-Za-z][A-Za-z0-9]*:[0-9a-fA-F]{32,}$/.test(tag)) ref = parseReference(`${referenceName(ref)}@${tag}`);
    else ref = { domain: ref.domain, path: ref.path, tag: validateTag(tag) };
  }
  if (!ref.tag && !ref.digest) ref = { ...ref, tag: 'latest' };
  return ref;
}

/**
 * dockerd answers with an HTTP error when a pull fails before anything
 * happened (unknown image, registry down) and with an error line once it is
 * under way. The first event ("Pulling from …") is held back until a second
 * one shows the pull really started, so early failures stay HTTP errors.
 */
function heldBackProgress(stream: JsonMessageStream): { sink: (e: ProgressEvent) => void; flush: () => void } {
  let held: ProgressEvent | undefined;
  let first = true;
  return {
    sink(e) {
      if (first) {
        first = false;
        held = e;
        return;
      }
      if (held) {
        stream.progress(held);
        held = undefined;
      }
      stream.progress(e);
    },
    flush() {
      if (held) stream.progress(held);
      held = undefined;
    },
  };
}

function abortOnClose(ctx: RequestContext): AbortSignal {
  const abort = new AbortController();
  ctx.res?.once('close', () => {
    if (!ctx.res!.writableFinished) abort.abort();
  });
  return abort.signal;
}

/** untag/delete events for what rmi and prune report (dockerd names both by image ID). */
function removalEvents(events: EventHub, items: ImageDeleteResponseItem[], imageId: string | undefined): void {
  for (const item of items) {
    if (item.Untagged && imageId) events.emit('image', 'untag', imageId, { name: imageId });
    if (item.Deleted) events.emit('image', 'delete', item.Deleted, { name: item.Deleted });
  }
}

export function addImageRoutes(router: Router, images: ImageService, options: { tmpDir: string; events: EventHub }): void {
  const events = options.events;
  router.post('/images/create', async (ctx) => {
    const fromImage = ctx.query.get('fromImage');
    const fromSrc = ctx.query.get('fromSrc');
    if (fromImage) return pull(ctx, images, fromImage, events);
    if (fromSrc) return importImage(ctx, images, fromSrc, events);
    throw new BerthError('BERTH_API_BAD_PARAMETER', 'images/create needs fromImage (pull) or fromSrc (import)', { status: 400 });
  });

  router.get('/images/json', async (ctx) => {
    const filters = Object.fromEntries(ctx.filters());
    const list = await images.list({ all: ctx.flag('all'), filters });
    const patterns = filters.reference;
    if (patterns?.length) {
      // dockerd filters digest references by the pattern too (matched on their name).
      for (const s of list) s.repoDigests = s.repoDigests.filter((d) => patterns.some((p) => referenceMatches(p, d.replace(/@.*$/, ''))));
    }
    ctx.sendJson(200, list.map((i) => imageSummary(i, ctx.apiVersion)));
  });

  router.get('/images/search', () => {
    throw new BerthError(
      'BERTH_API_NOT_SUPPORTED',
      'image search is not supported by berth: it needs an index service (Docker Hub search); list a registry with GET /v2/_catalog instead',
      { status: 501 },
    );
  });

  router.get('/images/get', async (ctx) => save(ctx, images, ctx.query.getAll('names'), options.tmpDir, events));

  router.post('/images/load', async (ctx) => {
    const quiet = ctx.flag('quiet');
    const stream = ctx.messageStream();
    const result = await loadImages(images, ctx.body(), {
      ...(quiet ? {} : { onProgress: (e: ProgressEvent) => stream.progress(e) }),
    });
    for (const img of result.images) events.emit('image', 'load', img.id, { name: img.id });
    for (const name of result.loaded) {
      const isId = /^sha256:[0-9a-f]{64}$/.test(name);
      stream.write({ stream: isId ? `Loaded image ID: ${name}\n` : `Loaded image: ${name}\n` });
    }
    stream.end();
  });

  router.post('/images/prune', async (ctx) => {
    const filters = Object.fromEntries(ctx.filters());
    const { deleted, spaceReclaimed } = await images.prune({ filters });
    for (const item of deleted as ImageDeleteResponseItem[]) if (item.Deleted) events.emit('image', 'delete', item.Deleted, { name: item.Deleted });
    const report: ImagesPruneReport = { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: spaceReclaimed };
    ctx.sendJson(200, report);
  });

  router.get('/images/{name:.*}/json', async (ctx) => ctx.sendJson(200, imageInspect(await images.inspect(ctx.params.name!), ctx.apiVersion)));

  router.get('/images/{name:.*}/history', async (ctx) => ctx.sendJson(200, imageHistory(await images.history(ctx.params.name!))));

  router.get('/images/{name:.*}/get', async (ctx) => save(ctx, images, [ctx.params.name!], options.tmpDir, events));

  router.post('/images/{name:.*}/tag', async (ctx) => {
    const repo = ctx.query.get('repo');
    if (!repo) throw new BerthError('BERTH_API_BAD_PARAMETER', 'tag: missing required query parameter "repo"', { status: 400 });
    const target = parseReference(repo);
    if (target.digest) throw new BerthError('BERTH_API_BAD_PARAMETER', 'refusing to create a tag with a digest reference', { status: 400 });
    const tag = ctx.query.get('tag') || target.tag || 'latest';
    const newTag: ImageReference = { domain: target.domain, path: target.path, tag: validateTag(tag) };
    await images.tag(ctx.params.name!, referenceString(newTag));
    const id = (await images.inspect(referenceString(newTag))).id;
    events.emit('image', 'tag', id, { name: familiarString(newTag) });
    ctx.sendStatus(201);
  });

  router.post('/images/{name:.*}/push', async (ctx) => push(ctx, images, ctx.params.name!, events));

  router.delete('/images/{name:.*}', async (ctx) => {
    const id = (await images.inspect(ctx.params.name!)).id;
    const items = await images.remove(ctx.params.name!, { force: ctx.flag('force'), noPrune: ctx.flag('noprune') });
    removalEvents(events, items, id);
    ctx.sendJson(200, items);
  });
}

async function pull(ctx: RequestContext, images: ImageService, fromImage: string, events: EventHub): Promise<void> {
  const ref = pullReference(fromImage, ctx.query.get('tag'));
  const auth = credentialsFrom(decodeRegistryAuth(ctx.req.headers['x-registry-auth']));
  const stream = ctx.messageStream();
  const progress = heldBackProgress(stream);
  await images.pull(referenceString(ref), {
    ...(ctx.query.get('platform') ? { platform: ctx.query.get('platform')! } : {}),
    ...(auth ? { auth } : {}),
    signal: abortOnClose(ctx),
    onProgress: progress.sink,
  });
  progress.flush();
  events.emit('image', 'pull', familiarString(ref), { name: familiarName(ref) });
  stream.end();
}

async function importImage(ctx: RequestContext, images: ImageService, fromSrc: string, events: EventHub): Promise<void> {
  if (fromSrc !== '-') {
    throw new BerthError('BERTH_API_NOT_SUPPORTED', `import from a URL (${fromSrc}) is not supported: send the tarball as the request body with fromSrc=-`, {
      status: 400,
    });
  }
  let reference: string | undefined;
  const repo = ctx.query.get('repo');
  if (repo) {
    const ref = parseReference(repo);
    if (ref.digest) throw new BerthError('BERTH_API_BAD_PARAMETER', `cannot import as ${repo}: a digest reference cannot be a tag`, { status: 400 });
    const tag = ctx.query.get('tag');
    reference = referenceString({ domain: ref.domain, path: ref.path, tag: tag ? validateTag(tag) : (ref.tag ?? 'latest') });
  }
  const platform = ctx.query.get('platform');
  const message = ctx.query.get('message');
  const result = await importRootfs(images, ctx.body(), {
    ...(reference ? { ref: reference } : {}),
    changes: ctx.query.getAll('changes').filter((c) => c !== ''),
    ...(message ? { message } : {}),
    source: '-',
    ...(platform ? { platform: platformObject(platform) } : {}),
  });
  events.emit('image', 'import', result.id, { name: result.id });
  const stream = ctx.messageStream();
  stream.status(result.id);
  stream.end();
}

function platformObject(spec: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant] = spec.split('/');
  if (!os || !architecture) throw new BerthError('BERTH_API_BAD_PARAMETER', `invalid platform "${spec}": expected os/arch[/variant]`, { status: 400 });
  return variant ? { os, architecture, variant } : { os, architecture };
}

async function push(ctx: RequestContext, images: ImageService, name: string, events: EventHub): Promise<void> {
  const ref = parseReference(name);
  if (ref.digest) throw new BerthError('BERTH_API_BAD_PARAMETER', 'cannot push a digest reference', { status: 400 });
  const queryTag = ctx.query.get('tag');
  const repoName = referenceName(ref);
  let targets: string[];
  if (ref.tag || queryTag) {
    targets = [`${repoName}:${validateTag(queryTag || ref.tag!)}`];
  } else {
    // No tag: every local tag of the repository (docker push --all-tags).
    const all = (await images.list()).flatMap((i) => i.repoTags).map((t) => referenceString(parseReference(t)));
    targets = [...new Set(all.filter((t) => t.startsWith(repoName + ':')))].sort();
  }
  const missing = () =>
    new BerthError('BERTH_IMAGE_NOT_FOUND', `An image does not exist locally with the tag: ${familiarString(parseReference(targets[0] ?? repoName))}`, { status: 404 });
  if (!targets.length) throw missing();
  // Fail before streaming if the image is missing, as dockerd does.
  await images.inspect(targets[0]!).catch((err: unknown) => {
    throw isBerthError(err) && err.status === 404 ? missing() : err;
  });
  const auth = credentialsFrom(decodeRegistryAuth(ctx.req.headers['x-registry-auth']));
  const stream = ctx.messageStream();
  stream.status(`The push refers to repository [${repoName}]`);
  const signal = abortOnClose(ctx);
  for (const target of targets) {
    const outcome = await images.push(target, { ...(auth ? { auth } : {}), signal, onProgress: (e) => stream.progress(e) });
    stream.write({ progressDetail: {}, aux: { Tag: outcome.tag ?? '', Digest: outcome.digest, Size: outcome.size } });
    const pushed = parseReference(target);
    events.emit('image', 'push', familiarString(pushed), { name: familiarName(pushed) });
  }
  stream.end();
}

async function save(ctx: RequestContext, images: ImageService, names: string[], tmpDir: string, events: EventHub): Promise<void> {
  if (!names.length) throw new BerthError('BERTH_API_BAD_PARAMETER', 'no images to save: give names=IMAGE', { status: 400 });
  // saveImages resolves every name before producing a byte: a missing one is a 404, not a broken tarball.
  const tar = await saveImages(images, names, { tmpDir });
  const res = ctx.res!;
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  try {
    const { pipeline } = await import('node:stream/promises');
    await pipeline(tar, res);
    for (const n of names) {
      const id = (await images.inspect(n)).id;
      events.emit('image', 'save', id, { name: id });
    }
  } catch (err) {
    // Headers are gone: cut the connection so the client sees a failed, not a short, archive.
    res.destroy(err as Error);
  }
}
