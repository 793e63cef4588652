/**
 * Picking one image out of an index / manifest list for a platform, the way
 * docker does: same OS, same (normalised) architecture, and the variant if one
 * was asked for (arm64 means v8, arm means v7 unless said otherwise).
 * Attestation manifests (buildx's `unknown/unknown` entries) never match.
 */
import { BerthError } from '../common/errors.ts';
import type { Descriptor, ImageIndex, Platform } from '../oci/image-spec.ts';

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  x64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  i386: '386',
  ia32: '386',
};

export function normalisePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  architecture = ARCH_ALIASES[architecture] ?? architecture;
  let variant = p.variant?.toLowerCase();
  if (architecture === 'arm64' && (variant === undefined || variant === '8' || variant === 'v8')) variant = 'v8';
  if (architecture === 'arm' && variant === undefined) variant = 'v7';
  if (architecture === 'arm' && variant && /^\d$/.test(variant)) variant = `v${variant}`;
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  return out;
}

/** The platform this process runs on, in OCI terms. */
export function hostPlatform(): Platform {
  return normalisePlatform({ os: process.platform === 'win32' ? 'windows' : process.platform, architecture: process.arch });
}

/** Parse `os/arch[/variant]` (docker's --platform). */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new BerthError('BERTH_DISTRIBUTION_INVALID_PLATFORM', `invalid platform "${text}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm/v7`, { status: 400 });
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalisePlatform(variant ? { os, architecture, variant } : { os, architecture });
}

export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function matches(want: Platform, have: Platform, strictVariant: boolean): boolean {
  const w = normalisePlatform(want);
  const h = normalisePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  if (!strictVariant || w.variant === undefined) return true;
  return w.variant === h.variant;
}

/** The index entry for `wanted`, or a 404 BerthError in docker's words. */
export function selectManifestForPlatform(index: ImageIndex, wanted: Platform, variantGiven: boolean): Descriptor {
  const candidates = index.manifests.filter(
    (m) => m.platform && m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest' && m.platform.os !== 'unknown',
  );
  const exact = candidates.find((m) => matches(wanted, m.platform!, true));
  if (exact) return exact;
  if (!variantGiven) {
    const loose = candidates.find((m) => matches(wanted, m.platform!, false));
    if (loose) return loose;
  }
  const offered = candidates.map((m) => platformString(m.platform!)).join(', ') || 'none';
  throw new BerthError(
    'BERTH_DISTRIBUTION_NO_MATCHING_PLATFORM',
    `no matching manifest for ${platformString(normalisePlatform(wanted))} in the manifest list entries (offered: ${offered})`,
    { status: 404 },
  );
}
