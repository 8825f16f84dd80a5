/** The vendor's tooling through the `pathbox ota` command, as release scripts call it. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadKeys, Repository } from '../../ota/index.ts';
import { projectRoot } from '../helpers/fixtures.ts';
import { tempDir } from '../models/bundle-fixtures.ts';
import { failingSelfTest, releaseBundle } from './helpers/vendor.ts';

const exec = promisify(execFile);
const CLI = path.join(projectRoot, 'src', 'cli', 'main.ts');

async function pathbox(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function ok(...args: string[]): Promise<string> {
  const result = await pathbox(...args);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

async function vendorDirs(): Promise<{ keys: string; repo: string; out: string }> {
  const dir = await tempDir('pathbox-ota-cli-');
  const dirs = { keys: path.join(dir, 'keys'), repo: path.join(dir, 'repo'), out: path.join(dir, 'www') };
  await ok('ota', 'keygen', '--out', dirs.keys);
  return dirs;
}

test('ota keygen writes private key files only the owner can read, and never overwrites one', async () => {
  const { keys } = await vendorDirs();
  const files = (await readdir(keys)).sort();
  assert.deepEqual(files, ['models', 'root-1', 'root-2', 'root-3', 'snapshot', 'targets', 'timestamp'].map((n) => `${n}.key.json`));
  assert.equal((await stat(path.join(keys, 'root-1.key.json'))).mode & 0o077, 0);
  const again = await pathbox('ota', 'keygen', '--out', keys, '--name', 'root-1');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /never overwritten/);
});

test('ota repo init, add-model, publish: a 2-of-3 root, a signed release, consistent-snapshot files and the announcement', async () => {
  const dirs = await vendorDirs();
  assert.match(await ok('ota', 'repo', 'init', '--keys', dirs.keys, '--repo', dirs.repo), /root 2-of-3/);
  const bundle = await releaseBundle('1.1.0', 2);
  const release = JSON.parse(await ok('ota', 'add-model', bundle, '--repo', dirs.repo, '--keys', dirs.keys, '--release-counter', '2', '--arch', 'x64,arm64', '--json'));
  assert.deepEqual([release.modelId, release.version, release.releaseCounter, release.hardware.arch], ['cellularity', '1.1.0', 2, ['x64', 'arm64']]);
  const summary = JSON.parse(await ok('ota', 'publish', '--repo', dirs.repo, '--out', dirs.out, '--json'));
  const metadata = (await readdir(path.join(dirs.out, 'metadata'))).sort();
  assert.ok(metadata.includes('1.root.json') && metadata.includes('timestamp.json'));
  assert.ok(metadata.includes(`${summary.snapshotVersion}.snapshot.json`));
  const published = await readdir(path.join(dirs.out, 'targets', 'models', 'cellularity', '1.1.0'));
  assert.ok(published.every((n) => n === 'selftest' || /^[0-9a-f]{64}\./.test(n)), published.join(', '));
  const announcement = JSON.parse(await readFile(path.join(dirs.out, 'announcement.json'), 'utf8'));
  assert.deepEqual([announcement.type, announcement.timestampVersion, announcement.releases], ['ota-announce', summary.timestampVersion, [{ id: 'cellularity', version: '1.1.0', releaseCounter: 2 }]]);
});

test('ota add-model refuses a bundle that fails its self-test, a wrong counter and a counter that does not grow', async () => {
  const dirs = await vendorDirs();
  await ok('ota', 'repo', 'init', '--keys', dirs.keys, '--repo', dirs.repo);
  const broken = await pathbox('ota', 'add-model', await releaseBundle('1.1.0', 2, failingSelfTest), '--repo', dirs.repo, '--keys', dirs.keys, '--release-counter', '2');
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /fails the checks a box makes/);
  const mismatch = await pathbox('ota', 'add-model', await releaseBundle('1.1.0', 2), '--repo', dirs.repo, '--keys', dirs.keys, '--release-counter', '3');
  assert.match(mismatch.stderr, /differs from the manifest's releaseCounter 2/);
  await ok('ota', 'add-model', await releaseBundle('1.1.0', 2), '--repo', dirs.repo, '--keys', dirs.keys, '--release-counter', '2');
  const stale = await pathbox('ota', 'add-model', await releaseBundle('1.2.0', 2), '--repo', dirs.repo, '--keys', dirs.keys, '--release-counter', '2');
  assert.match(stale.stderr, /must exceed 2/);
});

test('a root change needs 2 of the 3 offline root keys: publish waits until a second holder signs', async () => {
  const dirs = await vendorDirs();
  await ok('ota', 'repo', 'init', '--keys', dirs.keys, '--repo', dirs.repo);
  // The second and third root keys live with other people.
  const holder = path.join(path.dirname(dirs.keys), 'holder-2');
  await mkdir(holder);
  await rename(path.join(dirs.keys, 'root-2.key.json'), path.join(holder, 'root-2.key.json'));
  await rename(path.join(dirs.keys, 'root-3.key.json'), path.join(path.dirname(dirs.keys), 'root-3.key.json'));
  await ok('ota', 'keygen', '--out', dirs.keys, '--name', 'timestamp-2');
  await ok('ota', 'rotate', '--repo', dirs.repo, '--keys', dirs.keys, '--role', 'timestamp', '--add', 'timestamp-2', '--remove', 'timestamp');
  const early = await pathbox('ota', 'publish', '--repo', dirs.repo, '--out', dirs.out);
  assert.equal(early.code, 1);
  assert.match(early.stderr, /root v2.*1\/2/);
  await ok('ota', 'sign', '--repo', dirs.repo, '--keys', holder, '--role', 'root');
  await ok('ota', 'publish', '--repo', dirs.repo, '--out', dirs.out);
  const repo = await Repository.open(dirs.repo);
  assert.equal(repo.root.signed.version, 2);
  assert.equal(Object.keys(repo.root.signatures).length, 2);
});

test('ota status warns about roles with less than half their period left; ota sign renews them', async () => {
  const dirs = await vendorDirs();
  await ok('ota', 'repo', 'init', '--keys', dirs.keys, '--repo', dirs.repo);
  const repo = await Repository.open(dirs.repo);
  repo.resign(['timestamp'], await loadKeys(dirs.keys), { expires: new Date(Date.now() + 3600_000) });
  await repo.save();
  const status = JSON.parse(await ok('ota', 'status', '--repo', dirs.repo, '--json'));
  const timestamp = status.roles.find((r: { role: string }) => r.role === 'timestamp');
  assert.match(timestamp.warning ?? '', /less than half/);
  await ok('ota', 'sign', '--repo', dirs.repo, '--keys', dirs.keys);
  const renewed = JSON.parse(await ok('ota', 'status', '--repo', dirs.repo, '--json'));
  assert.equal(renewed.roles.find((r: { role: string }) => r.role === 'timestamp').warning, null);
  assert.equal(renewed.roles.find((r: { role: string }) => r.role === 'timestamp').version, timestamp.version + 1);
});
