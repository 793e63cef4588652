/**
 * The default loader for cgroup v2 device rules: native/build/berth-device-attach
 * loads the eBPF program (compiled in devices-ebpf.ts) with bpf(2), which
 * Node cannot call, and attaches it to the container's cgroup.
 */
import { execFile } from 'node:child_process';
import { BerthError } from '../../common/errors.ts';
import { findNativeBinary } from '../../common/native.ts';

export function deviceAttachBinary(): string | undefined {
  return findNativeBinary('berth-device-attach', 'BERTH_DEVICE_ATTACH');
}

export function attachDeviceProgramNative(cgroupDir: string, program: Buffer): Promise<void> {
  const binary = deviceAttachBinary();
  if (!binary) {
    return Promise.reject(new BerthError('BERTH_CGROUPS_DEVICES_LOADER', 'native/build/berth-device-attach is not built: run scripts/setup.sh'));
  }
  return new Promise((resolve, reject) => {
    const child = execFile(binary, [cgroupDir], (err, _out, stderr) => {
      if (err) reject(new BerthError('BERTH_CGROUPS_DEVICES_ATTACH', `device rules for ${cgroupDir}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
    child.stdin!.end(program);
  });
}
