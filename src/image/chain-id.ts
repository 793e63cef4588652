import { createHash } from 'node:crypto';
import type { Digest } from '../content/types.ts';

/**
 * Chain IDs (OCI image spec, "Layer ChainID"): the identity of a stack of
 * layers, so one unpacked snapshot serves every image sharing that stack.
 *   ChainID(L0) = DiffID(L0)
 *   ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diffId : `sha256:${createHash('sha256').update(`${prev} ${diffId}`).digest('hex')}`);
  }
  return out;
}

/** Chain ID of the whole stack (the top snapshot), or undefined for an image without layers. */
export function topChainId(diffIds: readonly Digest[]): Digest | undefined {
  return chainIds(diffIds).at(-1);
}
