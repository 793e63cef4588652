import { join } from 'node:path';
import { makeBusyboxTar } from '../busybox.ts';
import { runOk } from './process.ts';

/**
 * An OCI image layout with a one-layer busybox image, made offline with umoci
 * (a third-party tool, so peers' interop tests do not depend on berth's own
 * writer). Returns the layout dir and the tag inside it: use it as
 * `oci:<layout>:<tag>` with skopeo.
 */
export async function makeBusyboxOciLayout(workDir: string, tag = 'latest'): Promise<{ layout: string; tag: string; src: string }> {
  const layout = join(workDir, 'busybox-oci');
  const tar = join(workDir, 'busybox-rootfs.tar');
  await makeBusyboxTar(workDir, tar);
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', `${layout}:${tag}`]);
  await runOk('umoci', ['raw', 'add-layer', '--image', `${layout}:${tag}`, tar]);
  await runOk('umoci', ['config', '--image', `${layout}:${tag}`, '--config.cmd', '/bin/sh', '--config.env', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin']);
  return { layout, tag, src: `oci:${layout}:${tag}` };
}
