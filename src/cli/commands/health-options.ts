/**
 * `berth run` / `berth create` health flags → Config.Healthcheck, as the
 * docker CLI builds it: --health-cmd becomes ["CMD-SHELL", cmd], durations
 * take Go's syntax (1s, 1m30s, 500ms), zero fields are left to the image's
 * HEALTHCHECK (merged by berthd), --no-healthcheck sends ["NONE"].
 */
import type { FlagSpec, ParsedFlags } from '../args.ts';
import { UsageError } from '../args.ts';
import { bool, str } from '../command.ts';
import type { HealthConfig } from '../../api/container-types.ts';
import { parseGoDuration } from '../../common/go-duration.ts';

export const HEALTH_FLAGS: FlagSpec[] = [
  { name: 'health-cmd', type: 'string', description: 'Command to run to check health' },
  { name: 'health-interval', type: 'string', description: 'Time between running the check (ms|s|m|h) (default 0s)', value: 'duration' },
  { name: 'health-retries', type: 'string', description: 'Consecutive failures needed to report unhealthy', value: 'int' },
  { name: 'health-start-interval', type: 'string', description: 'Time between running the check during the start period (ms|s|m|h) (default 0s)', value: 'duration' },
  { name: 'health-start-period', type: 'string', description: 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)', value: 'duration' },
  { name: 'health-timeout', type: 'string', description: 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)', value: 'duration' },
  { name: 'no-healthcheck', type: 'bool', description: 'Disable any container-specified HEALTHCHECK' },
];

function duration(flags: ParsedFlags, name: string): number {
  const v = str(flags, name);
  if (v === undefined) return 0;
  try {
    return parseGoDuration(v);
  } catch (err) {
    throw new UsageError(`invalid argument "${v}" for "--${name}" flag: ${(err as Error).message}`);
  }
}

/** The create body's Healthcheck for these flags; undefined when none was given (the image's applies). */
export function healthcheckFromFlags(flags: ParsedFlags): HealthConfig | undefined {
  const cmd = str(flags, 'health-cmd') ?? '';
  const interval = duration(flags, 'health-interval');
  const timeout = duration(flags, 'health-timeout');
  const startPeriod = duration(flags, 'health-start-period');
  const startInterval = duration(flags, 'health-start-interval');
  const retriesText = str(flags, 'health-retries');
  if (retriesText !== undefined && !/^[-+]?\d+$/.test(retriesText)) {
    throw new UsageError(`invalid argument "${retriesText}" for "--health-retries" flag: strconv.ParseInt: parsing "${retriesText}": invalid syntax`);
  }
  const retries = retriesText === undefined ? 0 : Number(retriesText);
  const any = cmd !== '' || interval !== 0 || timeout !== 0 || startPeriod !== 0 || startInterval !== 0 || retries !== 0;
  if (bool(flags, 'no-healthcheck')) {
    if (any) throw new UsageError('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!any) return undefined;
  const negative: Array<[string, number]> = [
    ['--health-interval', interval],
    ['--health-timeout', timeout],
    ['--health-retries', retries],
    ['--health-start-period', startPeriod],
    ['--health-start-interval', startInterval],
  ];
  for (const [flag, v] of negative) if (v < 0) throw new UsageError(`${flag} cannot be negative`);
  return {
    ...(cmd ? { Test: ['CMD-SHELL', cmd] } : {}),
    ...(interval ? { Interval: interval } : {}),
    ...(timeout ? { Timeout: timeout } : {}),
    ...(startPeriod ? { StartPeriod: startPeriod } : {}),
    ...(startInterval ? { StartInterval: startInterval } : {}),
    ...(retries ? { Retries: retries } : {}),
  };
}
