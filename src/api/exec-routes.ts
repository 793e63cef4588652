/**
 * Exec endpoints (docker exec): create, start (hijacked, TTY or multiplexed,
 * or detached), inspect, resize — over ContainerService's exec methods.
 * Shapes and framing follow protocol-traces/docker-exec.txt.
 */
import { BerthError } from '../common/errors.ts';
import type { ContainerService, ExecConfig } from '../container/service.ts';
import type { Router } from './router.ts';
import type { ExecCreateRequest, ExecInspect, ExecStartRequest } from './container-wire.ts';
import { frame, parseDetachKeys } from './container-stdio.ts';
import { pumpAttach, streamContentType, takeOver } from './container-routes.ts';
import { closeStdin } from '../container/monitor.ts';

const badParam = (message: string) => new BerthError('BERTH_API_BAD_PARAMETER', message, { status: 400 });

/** Exec ids created through the API per container, for inspect's ExecIDs (the service keeps them privately). */
const execsByContainer = new Map<string, Set<string>>();

/** ExecIDs as `docker inspect` shows them: execs of this container the engine still knows; null when none. */
export function execIdsOf(svc: ContainerService, containerId: string): string[] | null {
  const ids = execsByContainer.get(containerId);
  if (!ids) return null;
  for (const id of ids) {
    try {
      svc.getExec(id);
    } catch {
      ids.delete(id);
    }
  }
  if (!ids.size) execsByContainer.delete(containerId);
  return ids.size ? [...ids] : null;
}

export function addExecRoutes(router: Router, svc: ContainerService): void {
  router.post('/containers/{id}/exec', async (ctx) => {
    const body = await ctx.jsonObject<ExecCreateRequest>();
    if (body.Cmd !== undefined && body.Cmd !== null && (!Array.isArray(body.Cmd) || body.Cmd.some((a) => typeof a !== 'string'))) {
      throw badParam('Cmd must be a list of strings');
    }
    if (body.DetachKeys) parseDetachKeys(body.DetachKeys);
    const config: ExecConfig = {
      Cmd: body.Cmd ?? [],
      ...(body.Env ? { Env: body.Env } : {}),
      ...(body.WorkingDir ? { WorkingDir: body.WorkingDir } : {}),
      ...(body.User ? { User: body.User } : {}),
      Tty: !!body.Tty,
      AttachStdin: !!body.AttachStdin,
      AttachStdout: !!body.AttachStdout,
      AttachStderr: !!body.AttachStderr,
      Privileged: !!body.Privileged,
      ...(body.DetachKeys ? { DetachKeys: body.DetachKeys } : {}),
      ...(body.ConsoleSize ? { ConsoleSize: body.ConsoleSize } : {}),
    };
    if (config.WorkingDir && !config.WorkingDir.startsWith('/')) throw badParam(`the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`);
    const id = svc.createExec(ctx.params.id!, config);
    const containerId = svc.getExec(id).ContainerID;
    if (!execsByContainer.has(containerId)) execsByContainer.set(containerId, new Set());
    execsByContainer.get(containerId)!.add(id);
    ctx.sendJson(201, { Id: id });
  });

  router.post('/exec/{id}/start', async (ctx) => {
    const body = (await ctx.json<ExecStartRequest>()) ?? {};
    if (typeof body !== 'object' || Array.isArray(body)) throw badParam('request body must be a JSON object');
    const ex = svc.getExec(ctx.params.id!);
    const cfg = ex.Config;
    if (body.ConsoleSize && cfg.Tty) cfg.ConsoleSize = body.ConsoleSize;
    if (body.Detach) {
      await svc.startExec(ex.ID, { detach: true });
      ctx.sendStatus(200);
      return;
    }
    const detachKeys = parseDetachKeys(cfg.DetachKeys);
    // A refusal (not running, already run) is still an HTTP error. Then, as
    // dockerd does, the connection is taken over BEFORE the process starts:
    // clients that read the 101 through a buffered reader (docker-py, so
    // docker-compose) would swallow output arriving with the headers. A
    // process that cannot be launched is reported on the stream, its exit
    // code (126) left for `exec inspect`.
    svc.checkExecStartable(ex.ID);
    const tty = !!cfg.Tty;
    const client = takeOver(ctx, streamContentType(ctx, tty));
    let monitor;
    try {
      monitor = await svc.startExec(ex.ID, {});
    } catch (err) {
      const message = Buffer.from(`OCI runtime exec failed: ${(err as Error).message}\r\n`);
      client.end(tty ? message : frame(1, message));
      return;
    }
    if (!monitor) {
      client.end();
      return;
    }
    await pumpAttach(client, monitor, {
      tty,
      stdout: !!cfg.AttachStdout,
      stderr: !!cfg.AttachStderr,
      stdin: !!cfg.AttachStdin,
      detachKeys,
      onStdinEnd: () => void closeStdin(svc.socketDir(ex.ID)).catch(() => {}),
      beforeEnd: async () => {
        await ex.exited;
      },
    });
  });

  router.get('/exec/{id}/json', (ctx) => {
    const ex = svc.getExec(ctx.params.id!);
    const [entrypoint = '', ...args] = ex.Config.Cmd;
    const out: ExecInspect = {
      ID: ex.ID,
      Running: ex.Running,
      ExitCode: ex.ExitCode,
      ProcessConfig: {
        tty: !!ex.Config.Tty,
        entrypoint,
        arguments: args,
        privileged: !!ex.Config.Privileged,
        ...(ex.Config.User ? { user: ex.Config.User } : {}),
      },
      OpenStdin: !!ex.Config.AttachStdin,
      OpenStderr: !!ex.Config.AttachStderr,
      OpenStdout: !!ex.Config.AttachStdout,
      CanRemove: false,
      ContainerID: ex.ContainerID,
      DetachKeys: ex.Config.DetachKeys ?? '',
      Pid: ex.Pid,
    };
    ctx.sendJson(200, out);
  });

  router.post('/exec/{id}/resize', async (ctx) => {
    const h = Number(ctx.query.get('h') ?? 0);
    const w = Number(ctx.query.get('w') ?? 0);
    if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0) throw badParam('invalid terminal size');
    await svc.resizeExec(ctx.params.id!, h, w);
    ctx.sendStatus(200);
  });
}
