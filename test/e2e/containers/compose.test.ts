/**
 * docker-compose 1.29.2 (Debian's, API 1.41) against berthd: up -d, ps,
 * logs, exec -T, down of a two-service project with network_mode none, a
 * bind mount, environment and command.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { setup, runCommand, type Env, type Run } from './helpers.ts';

const COMPOSE_FILE = `version: "3"
services:
  web:
    image: busybox:latest
    network_mode: none
    command: sh -c 'echo web-up $$MODE; cat /data/file.txt; echo written > /data/out.txt; exec sleep 300'
    environment:
      MODE: production
    volumes:
      - ./data:/data
  worker:
    image: busybox:latest
    network_mode: none
    command: ["sh", "-c", "echo worker-up; exec sleep 300"]
`;

describe('docker-compose 1.29 on berthd', () => {
  let e: Env;
  let project: string;
  const compose = (...args: string[]): Promise<Run> =>
    runCommand('docker-compose', ['--project-directory', project, '-f', join(project, 'docker-compose.yml'), '-p', 'bproj', ...args], {
      env: { DOCKER_HOST: e.d.host, COMPOSE_INTERACTIVE_NO_CLI: '1' },
    });
  before(async () => {
    e = await setup('berth-e2e-ctr-compose-');
    project = join(e.work, 'proj');
    await mkdir(join(project, 'data'), { recursive: true });
    await writeFile(join(project, 'data/file.txt'), 'bound-content\n');
    await writeFile(join(project, 'docker-compose.yml'), COMPOSE_FILE);
  });
  after(async () => {
    if (e) await compose('down', '-t', '1').catch(() => {});
    await e?.stop();
  });

  test('up -d, ps, logs, exec -T, down', async () => {
    const up = await compose('up', '-d');
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /Creating bproj_web_1 +\.\.\. done/);
    const ps = await compose('ps');
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /^bproj_web_1 .* Up/m);
    assert.match(ps.stdout, /^bproj_worker_1 .* Up/m);
    let logs = await compose('logs', '--no-color');
    for (let i = 0; i < 40 && !/bound-content/.test(logs.stdout); i++) {
      await new Promise((r) => setTimeout(r, 100));
      logs = await compose('logs', '--no-color');
    }
    assert.match(logs.stdout, /web_1 +\| web-up production\n/);
    assert.match(logs.stdout, /web_1 +\| bound-content\n/);
    assert.match(logs.stdout, /worker_1 +\| worker-up\n/);
    const ex = await compose('exec', '-T', 'web', 'sh', '-c', 'echo $MODE; cat /data/file.txt');
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(ex.stdout, 'production\nbound-content\n');
    assert.equal((await compose('exec', '-T', 'worker', 'sh', '-c', 'exit 5')).code, 5);
    assert.equal(await readFile(join(project, 'data/out.txt'), 'utf8'), 'written\n');
    const down = await compose('down', '-t', '1');
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stderr, /Removing bproj_web_1 +\.\.\. done/);
    assert.equal((await e.docker('ps', '-aq')).stdout, '');
    // Removing the container never touches the bind-mounted host directory.
    assert.equal(await readFile(join(project, 'data/file.txt'), 'utf8'), 'bound-content\n');
  });

  test('a compose file without a version (the server\'s API version): a changed service is recreated', async () => {
    // No `version:`: compose 1.29 negotiates berthd's highest API version and,
    // to recreate, reads the image's ContainerConfig.
    const file = (cmd: string) => `services:\n  solo:\n    image: busybox:latest\n    network_mode: none\n    command: ${cmd}\n`;
    const dir = join(e.work, 'noversion');
    await mkdir(dir, { recursive: true });
    const c = (...args: string[]) => runCommand('docker-compose', ['--project-directory', dir, '-f', join(dir, 'docker-compose.yml'), '-p', 'nov', ...args], {
      env: { DOCKER_HOST: e.d.host, COMPOSE_INTERACTIVE_NO_CLI: '1' },
    });
    try {
      await writeFile(join(dir, 'docker-compose.yml'), file('sleep 301'));
      assert.equal((await c('up', '-d')).code, 0);
      await writeFile(join(dir, 'docker-compose.yml'), file('sleep 302'));
      const again = await c('up', '-d', '-t', '1');
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /Recreating nov_solo_1/);
      assert.match((await e.docker('ps', '--format', '{{.Command}}')).stdout, /sleep 302/);
    } finally {
      await c('down', '-t', '0');
    }
  });
});
