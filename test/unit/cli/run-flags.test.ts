/**
 * The run/create flags the docker CLI has and berth lacked, parsed into the
 * create body as the docker CLI builds it: limits, --domainname, --device,
 * --pid/--ipc/--uts, --runtime, --volumes-from, -p/-P/--expose,
 * --label-file, seccomp=FILE (the profile's JSON, not its name), --cidfile,
 * and -v ./relative made absolute.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFlags } from '../../../src/cli/args.ts';
import { RUN_FLAGS } from '../../../src/cli/commands/run.ts';
import { createRequest, needsMoreOptions } from '../../../src/cli/commands/container-options.ts';
import * as more from '../../../src/cli/commands/container-options-more.ts';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeTempDir(d);
});

const parse = (argv: string[]) => {
  const p = parseFlags(argv, RUN_FLAGS, 'berth run', false);
  return createRequest(p.flags, p.args, {}, { detach: false }, needsMoreOptions(p.flags) ? more : undefined).body;
};

describe('run/create flags', () => {
  test('limits, domain name, namespaces, runtime, volumes-from', () => {
    const body = parse([
      '-m', '64m', '--memory-swap', '128m', '--memory-reservation', '32m', '--cpu-period', '100000', '--cpu-quota', '50000',
      '--oom-score-adj', '-500', '--domainname', 'example.org', '--pid', 'host', '--ipc', 'container:db', '--uts', 'host',
      '--runtime', 'berth-runtime', '--volumes-from', 'data:ro', '--volumes-from', 'other', 'busybox',
    ]);
    const hc = body.HostConfig!;
    assert.equal(hc.MemorySwap, 128 * 1024 ** 2);
    assert.equal(hc.MemoryReservation, 32 * 1024 ** 2);
    assert.equal(hc.CpuPeriod, 100000);
    assert.equal(hc.CpuQuota, 50000);
    assert.equal(hc.OomScoreAdj, -500);
    assert.equal(body.Domainname, 'example.org');
    assert.equal(hc.PidMode, 'host');
    assert.equal(hc.IpcMode, 'container:db');
    assert.equal(hc.UTSMode, 'host');
    assert.equal(hc.Runtime, 'berth-runtime');
    assert.deepEqual(hc.VolumesFrom, ['data:ro', 'other']);
    assert.equal(parse(['--memory-swap', '-1', 'busybox']).HostConfig!.MemorySwap, -1);
    // Nothing is sent for flags not given.
    const plain = parse(['busybox']);
    for (const k of ['MemorySwap', 'MemoryReservation', 'CpuPeriod', 'CpuQuota', 'OomScoreAdj', 'PidMode', 'IpcMode', 'UTSMode', 'Runtime', 'VolumesFrom', 'Devices', 'PortBindings']) {
      assert.equal(k in plain.HostConfig!, false, k);
    }
    assert.equal('ExposedPorts' in plain, false);
    assert.throws(() => parse(['--pid', 'bogus', 'busybox']), /^UsageError: --pid: invalid PID mode$/);
    assert.throws(() => parse(['--uts', 'container:', 'busybox']), /--uts: invalid UTS mode/);
    assert.throws(() => parse(['--ipc', 'nope', 'busybox']), /--ipc: invalid IPC mode/);
    assert.throws(() => parse(['--cpu-quota', 'half', 'busybox']), /invalid argument "half" for "--cpu-quota" flag/);
    assert.throws(() => parse(['--memory-swap', 'lots', 'busybox']), /invalid argument "lots" for "--memory-swap" flag/);
  });

  test('--device: host path, container path, permissions (the docker CLI\'s rules)', () => {
    assert.deepEqual(more.parseDevice('/dev/null'), { PathOnHost: '/dev/null', PathInContainer: '/dev/null', CgroupPermissions: 'rwm' });
    assert.deepEqual(more.parseDevice('/dev/null:r'), { PathOnHost: '/dev/null', PathInContainer: '/dev/null', CgroupPermissions: 'r' });
    assert.deepEqual(more.parseDevice('/dev/null:/dev/mynull'), { PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'rwm' });
    assert.deepEqual(more.parseDevice('/dev/null:/dev/mynull:rw'), { PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'rw' });
    assert.throws(() => more.parseDevice('/dev/null:/x:rwx'), /invalid argument "\/dev\/null:\/x:rwx" for "--device" flag: bad mode specified: rwx/);
    assert.throws(() => more.parseDevice('/dev/null:rel'), /rel is not an absolute path/);
    assert.throws(() => more.parseDevice('a:b:c:d'), /bad format for path/);
    assert.deepEqual(parse(['--device', '/dev/null:/dev/n', 'busybox']).HostConfig!.Devices, [{ PathOnHost: '/dev/null', PathInContainer: '/dev/n', CgroupPermissions: 'rwm' }]);
  });

  test('-p, -P, --expose as nat.ParsePortSpecs', () => {
    const body = parse(['-p', '8080:80', '-p', '127.0.0.1:9000-9001:90-91/udp', '-p', '[::1]::53/udp', '-p', '5000-5010:443', '--expose', '7000-7001', '-P', 'busybox']);
    assert.deepEqual(body.HostConfig!.PortBindings, {
      '80/tcp': [{ HostIp: '', HostPort: '8080' }],
      '90/udp': [{ HostIp: '127.0.0.1', HostPort: '9000' }],
      '91/udp': [{ HostIp: '127.0.0.1', HostPort: '9001' }],
      '53/udp': [{ HostIp: '::1', HostPort: '' }],
      '443/tcp': [{ HostIp: '', HostPort: '5000-5010' }],
    });
    assert.deepEqual(Object.keys(body.ExposedPorts!).sort(), ['443/tcp', '53/udp', '7000/tcp', '7001/tcp', '80/tcp', '90/udp', '91/udp']);
    assert.equal(body.HostConfig!.PublishAllPorts, true);
    assert.throws(() => parse(['-p', 'bogus', 'busybox']), /^UsageError: invalid containerPort: bogus$/);
    assert.throws(() => parse(['-p', 'x:80', 'busybox']), /invalid hostPort: x/);
    assert.throws(() => parse(['-p', '80/xyz', 'busybox']), /invalid proto: xyz/);
    assert.throws(() => parse(['-p', '1.2.3:80:80', 'busybox']), /invalid IP address: 1.2.3/);
    assert.throws(() => parse(['-p', '80-81:90-92', 'busybox']), /invalid ranges specified for container and host Ports: 90-92 and 80-81/);
    assert.throws(() => parse(['--expose', '1:2', 'busybox']), /invalid port format for --expose: 1:2/);
  });

  test('--label-file (then --label wins), seccomp=FILE sends the profile, --security-opt checked, -v ./dir absolute', async () => {
    const dir = await makeTempDir('berth-run-flags-');
    dirs.push(dir);
    writeFileSync(join(dir, 'labels'), '\uFEFFa=1\n# comment\n\nbare\n  c=x y\n');
    assert.deepEqual(parse(['--label-file', join(dir, 'labels'), '-l', 'a=2', 'busybox']).Labels, { a: '2', c: 'x y' });
    assert.throws(() => parse(['--label-file', join(dir, 'nope'), 'busybox']), /open .*nope: no such file or directory/);
    writeFileSync(join(dir, 'profile.json'), '{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": [ { "names": [ "mkdir" ], "action": "SCMP_ACT_ERRNO", "comment": "a b" } ]\n}\n');
    assert.deepEqual(parse(['--security-opt', `seccomp=${join(dir, 'profile.json')}`, '--security-opt', 'no-new-privileges', 'busybox']).HostConfig!.SecurityOpt, [
      'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","comment":"a b"}]}',
      'no-new-privileges',
    ]);
    assert.deepEqual(parse(['--security-opt', 'seccomp=unconfined', 'busybox']).HostConfig!.SecurityOpt, ['seccomp=unconfined']);
    assert.throws(() => parse(['--security-opt', `seccomp=${join(dir, 'none.json')}`, 'busybox']), /opening seccomp profile \(.*none\.json\) failed: open .*: no such file or directory/);
    writeFileSync(join(dir, 'bad.json'), '{bad');
    assert.throws(() => parse(['--security-opt', `seccomp=${join(dir, 'bad.json')}`, 'busybox']), /compacting json for seccomp profile \(.*bad\.json\) failed/);
    assert.throws(() => parse(['--security-opt', 'foo', 'busybox']), /Invalid --security-opt: "foo"/);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assert.deepEqual(parse(['-v', './sub:/x', '-v', '.:/y:ro', '-v', 'named:/z', '-v', '/abs:/w', 'busybox']).HostConfig!.Binds, [`${dir}/sub:/x`, `${dir}:/y:ro`, 'named:/z', '/abs:/w']);
    } finally {
      process.chdir(cwd);
    }
  });

  test('--cidfile: refused when it exists; the ID written; removed when no container was made', async () => {
    const dir = await makeTempDir('berth-cidfile-');
    dirs.push(dir);
    const path = join(dir, 'cid');
    assert.equal(parse(['--cidfile', path, 'busybox']).HostConfig!.ContainerIDFile, path);
    const cid = new more.CidFile(path);
    assert.throws(() => new more.CidFile(path), new RegExp(`container ID file found, make sure the other container isn't running or delete ${path}`));
    cid.write('c0ffee');
    cid.close();
    assert.equal(readFileSync(path, 'utf8'), 'c0ffee');
    const unused = new more.CidFile(join(dir, 'unused'));
    unused.close();
    assert.equal(existsSync(join(dir, 'unused')), false);
  });

  test('the rarer flags need container-options-more.ts; the usual ones do not (run\'s start-up)', () => {
    const flags = (argv: string[]) => parseFlags(argv, RUN_FLAGS, 'berth run', false).flags;
    assert.equal(needsMoreOptions(flags(['--rm', '-e', 'A=1', '-v', '/a:/b', '-m', '64m', '--memory-swap', '1g', '--pid', 'host', 'busybox'])), false);
    for (const argv of [['-p', '80'], ['--expose', '80'], ['--device', '/dev/null'], ['--label-file', 'f'], ['--security-opt', 'seccomp=f'], ['--cidfile', 'f']]) {
      assert.equal(needsMoreOptions(flags([...argv, 'busybox'])), true, argv.join(' '));
    }
    assert.throws(() => createRequest(flags(['-p', '80', 'busybox']), ['busybox'], {}, { detach: false }), /need container-options-more/);
  });
});
