/**
 * Helpers for Docker's list/prune `filters` (moby's api/types/filters),
 * shared by the engine's services.
 */
import { BerthError, invalidArgument } from './errors.ts';

export function badFilter(message: string): BerthError {
  return invalidArgument('BERTH_API_BAD_FILTERS', message);
}

/** moby's filters.Match: an exact value or a regular expression found in the string. */
export function filterMatches(pattern: string, value: string): boolean {
  if (pattern === value) return true;
  try {
    return new RegExp(pattern).test(value);
  } catch {
    return false;
  }
}
