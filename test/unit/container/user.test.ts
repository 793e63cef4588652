import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.ts';
import { resolveUser } from '../../../src/container/user.ts';

let root: string;
let outside: string;
before(async () => {
  root = await makeTempDir();
  outside = await makeTempDir();
  await mkdir(join(root, 'etc'));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nstaff:x:50:app\napp:x:1001:\nwheel:x:10:\n');
});
after(async () => {
  await removeTempDir(root);
  await removeTempDir(outside);
});

describe('user resolution', () => {
  test('default is root', () => {
    assert.deepEqual(resolveUser(root, ''), { uid: 0, gid: 0, additionalGids: [0], home: '/root' });
  });
  test('by name: primary gid and memberships', () => {
    assert.deepEqual(resolveUser(root, 'app'), { uid: 1000, gid: 1001, additionalGids: [1001, 50], home: '/home/app' });
  });
  test('uid:gid numbers need no passwd entry', () => {
    assert.deepEqual(resolveUser(root, '4242:4343'), { uid: 4242, gid: 4343, additionalGids: [4343], home: '/' });
  });
  test('name:group and --group-add', () => {
    assert.deepEqual(resolveUser(root, 'app:wheel', ['staff', '77']), { uid: 1000, gid: 10, additionalGids: [10, 50, 77], home: '/home/app' });
  });
  test('unknown names are clear errors', () => {
    assert.throws(() => resolveUser(root, 'nobody'), /unable to find user nobody/);
    assert.throws(() => resolveUser(root, 'app:nogroup'), /unable to find group nogroup/);
    assert.throws(() => resolveUser(root, '0', ['ghosts']), /Unable to find group ghosts/);
  });
  test('a passwd symlinked out of the rootfs is read inside it, not on the host', async () => {
    const r2 = await makeTempDir();
    try {
      await mkdir(join(r2, 'etc'));
      await writeFile(join(outside, 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
      await symlink(join(outside, 'passwd'), join(r2, 'etc/passwd'));
      assert.throws(() => resolveUser(r2, 'evil'), /unable to find user evil/);
    } finally {
      await removeTempDir(r2);
    }
  });
});
