/**
 * Offline bundles on a USB stick (threat 27), TLS in front of the repository (28), and MQTT nudges and
 * commands (25, 26): none of them grants trust; only the signed metadata decides.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { exportUsb } from '../../ota/index.ts';
import { handleOtaNudge, MAX_NUDGE_BYTES, OtaAgent, repositorySource } from '../../src/ota/index.ts';
import { tempDir } from '../models/bundle-fixtures.ts';
import { projectRoot } from '../helpers/fixtures.ts';
import { activeVersion, expectOutcome, FAST_LIMITS, makeBox, type Box } from './helpers/box.ts';
import { RepoServer } from './helpers/repo-server.ts';
import { addRelease, makeVendor, type Vendor } from './helpers/vendor.ts';

const run = promisify(execFile);
const CLI = path.join(projectRoot, 'src', 'cli', 'main.ts');

async function usbExport(vendor: Vendor): Promise<string> {
  const stick = path.join(await tempDir('pathbox-ota-usb-'), 'PATHBOX');
  await exportUsb(vendor.repo, stick);
  return stick;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('threat 27: pathbox ota install PATH installs an exported USB bundle with the factory root pinned', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const stick = await usbExport(vendor);
  const dataDir = await tempDir('pathbox-ota-cli-');
  const { stdout } = await run(process.execPath, [CLI, 'ota', 'install', stick, '--data-dir', dataDir, '--root', path.join(stick, 'metadata', '1.root.json'), '--json']);
  const outcome = JSON.parse(stdout);
  assert.equal(outcome.state, 'HEALTH_CHECK', outcome.detail);
  assert.equal(outcome.model.version, '1.1.0');
  const listed = JSON.parse((await run(process.execPath, [CLI, 'models', 'list', '--data-dir', dataDir, '--json'])).stdout);
  assert.deepEqual(listed.models.filter((m: { active: boolean }) => m.active).map((m: { version: string; origin: string }) => `${m.version} ${m.origin}`), ['1.1.0 installed']);
  const again = await run(process.execPath, [CLI, 'ota', 'install', stick, '--data-dir', dataDir, '--json']).catch((e: { stdout: string }) => e);
  assert.equal(JSON.parse(again.stdout).reason, 'BUSY', 'the job on trial is still unfinished');
});

test('threat 27: a USB file changed after it was copied to internal storage does not reach the installed bundle', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const stick = await usbExport(vendor);
  const onStick = (name: string) => execFileSync('find', [path.join(stick, 'targets'), '-name', `*.${name}`], { encoding: 'utf8' }).trim();
  const genuine = { fp32: await readFile(onStick('cellularity-fp32.onnx')), int8: await readFile(onStick('cellularity-int8.onnx')) };
  const box = await makeBox(vendor, {
    location: stick,
    checkpoint: async (step) => {
      // Once the files are copied and verified, an attacker rewrites them on the stick before the install.
      if (step === 'verify:done') {
        await writeFile(onStick('cellularity-fp32.onnx'), Buffer.alloc(genuine.fp32.length, 1));
        await writeFile(onStick('cellularity-int8.onnx'), Buffer.alloc(genuine.int8.length, 2));
      }
    },
  });
  expectOutcome(await box.install(), 'SUCCEEDED');
  const installed = path.join(box.registry.root, 'cellularity', '1.1.0');
  assert.equal(sha256(await readFile(path.join(installed, 'cellularity-fp32.onnx'))), sha256(genuine.fp32));
  assert.equal(sha256(await readFile(path.join(installed, 'cellularity-int8.onnx'))), sha256(genuine.int8));
});

test('threat 27: a USB bundle with metadata older than the box trusts is refused', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const oldStick = await usbExport(vendor);
  await addRelease(vendor, '1.2.0', 3);
  const box = await makeBox(vendor);
  expectOutcome(await box.install(), 'SUCCEEDED');
  const fromStick = await makeBox(vendor, { location: oldStick, dataDir: box.dataDir, store: box.store, registry: box.registry });
  expectOutcome(await fromStick.install(), 'REJECTED', 'METADATA_ROLLBACK');
  assert.equal(await activeVersion(box), '1.2.0');
});

test('threat 27: an expired USB bundle is refused with its own reason', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  vendor.repo.resign(['timestamp'], vendor.keys, { expires: new Date(Date.now() - 60_000) });
  const stick = await usbExport(vendor);
  const box = await makeBox(vendor, { location: stick });
  expectOutcome(await box.install(), 'REJECTED', 'EXPIRED_METADATA');
});

test('threat 27: a USB bundle with a target file missing fails and nothing changes', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const stick = await usbExport(vendor);
  const file = execFileSync('find', [path.join(stick, 'targets'), '-name', '*.white.png'], { encoding: 'utf8' }).trim();
  await rm(file);
  const box = await makeBox(vendor, { location: stick });
  const outcome = await box.install();
  expectOutcome(outcome, 'FAILED', 'DOWNLOAD_FAILED');
  assert.match(outcome.detail!, /404/);
  assert.equal(await activeVersion(box), null);
});

test('threat 28: a repository behind a certificate the box does not trust gives no update and a clear status', { skip: hasOpenssl() ? false : 'openssl is not installed' }, async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const dir = await tempDir('pathbox-ota-tls-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  const server = https.createServer({ key: await readFile(path.join(dir, 'key.pem')), cert: await readFile(path.join(dir, 'cert.pem')) }, (req, res) => res.end('{}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => server.close());
  const box = await makeBox(vendor, { location: `https://127.0.0.1:${(server.address() as AddressInfo).port}/` });
  const outcome = await box.install();
  expectOutcome(outcome, 'FAILED', 'DOWNLOAD_FAILED');
  assert.match(outcome.detail!, /self[- ]signed|certificate/i);
  assert.equal(await activeVersion(box), null);
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A daemon-side agent on the vendor's HTTP repository, without timers (nudges only). */
async function agentFor(vendor: Vendor): Promise<{ agent: OtaAgent; box: Box; server: RepoServer }> {
  const server = await RepoServer.start(vendor.published);
  const box = await makeBox(vendor, { location: server.url });
  const agent = new OtaAgent({
    dataDir: box.dataDir, store: box.store, registry: box.registry, deviceId: 'box-under-test',
    settings: { ...box.installer.env.settings, limits: FAST_LIMITS }, source: await repositorySource(server.url), pollMs: 0, resumeMs: 0,
  });
  await agent.start();
  after(() => agent.stop());
  await agent.idle();
  return { agent, box, server };
}

const announce = (timestampVersion: number) => JSON.stringify({ type: 'ota-announce', v: 1, timestampVersion });
const command = (nonce: string, model?: { id: string; version: string }, expiresInMs = 60_000) =>
  JSON.stringify({ type: 'ota-install', v: 1, nonce, expiresAt: new Date(Date.now() + expiresInMs).toISOString(), model });

test('threat 25: oversize and malformed MQTT payloads are dropped without a crash or a refresh', async () => {
  const vendor = await makeVendor();
  const { agent, server } = await agentFor(vendor);
  assert.deepEqual(await agent.handleNudge(Buffer.alloc(MAX_NUDGE_BYTES + 1, 0x7b)).then((v) => !v.accepted && v.reason), 'oversize');
  for (const garbage of ['{"type":"ota-announce"', Buffer.from([0xa1, 0x64, 0x74, 0x79, 0x70, 0x65]), '[]', 'null', '{"type":"ota-announce","v":1,"timestampVersion":-3}', '{"type":"ota-install","v":1,"nonce":"x"}']) {
    const verdict = await agent.handleNudge(garbage);
    assert.equal(verdict.accepted ? 'accepted' : verdict.reason, 'malformed', String(garbage));
  }
  await agent.idle();
  assert.equal(server.requestsFor('timestamp.json').length, 0);
});

test('threat 25: a retained, stale announcement is ignored; a newer one refreshes once even when delivered twice', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { agent, box, server } = await agentFor(vendor);
  expectOutcome(await box.install(), 'SUCCEEDED');
  const stale = await agent.handleNudge(announce(vendor.repo.timestamp.signed.version));
  assert.equal(stale.accepted ? 'accepted' : stale.reason, 'stale');
  await agent.idle();
  assert.equal(box.jobs.recentJobs().length, 1, 'no job for the stale announcement');
  const requestsBefore = server.requestsFor('timestamp.json').length;
  await addRelease(vendor, '1.2.0', 3);
  const fresh = announce(vendor.repo.timestamp.signed.version);
  assert.equal((await agent.handleNudge(fresh)).accepted, true);
  assert.equal((await agent.handleNudge(fresh)).accepted, true, 'a QoS 1 duplicate is harmless');
  await agent.idle();
  assert.equal(box.jobs.recentJobs().length, 2);
  assert.equal(server.requestsFor('timestamp.json').length, requestsBefore + 1);
  assert.equal(await activeVersion(box), '1.2.0');
});

test('threat 25: an announcement carrying only a snapshot version is never trusted on its own', async () => {
  const vendor = await makeVendor();
  const { agent, server } = await agentFor(vendor);
  const verdict = await agent.handleNudge(JSON.stringify({ type: 'ota-announce', v: 1, snapshotVersion: 99 }));
  assert.equal(verdict.accepted ? 'accepted' : verdict.reason, 'malformed');
  await agent.idle();
  assert.equal(server.requestsFor('snapshot.json').length, 0);
});

test('threat 26: an "install X" command for a release that is not the latest authorised one is refused', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  await addRelease(vendor, '1.2.0', 3);
  const { agent, box } = await agentFor(vendor);
  assert.equal((await agent.handleNudge(command('a'.repeat(16), { id: 'cellularity', version: '1.1.0' }))).accepted, true);
  await agent.idle();
  const [job] = box.jobs.recentJobs();
  assert.equal(`${job.state} ${job.reason}`, 'REJECTED NOT_AUTHORISED');
  assert.equal(await activeVersion(box), null);
});

test('threat 26: a command for a release that is not in the signed metadata is refused', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { agent, box } = await agentFor(vendor);
  await agent.handleNudge(command('b'.repeat(16), { id: 'cellularity', version: '6.6.6' }));
  await agent.idle();
  const [job] = box.jobs.recentJobs();
  assert.equal(`${job.state} ${job.reason}`, 'REJECTED NOT_AUTHORISED');
  assert.match(job.detail!, /not in the signed metadata/);
});

test('threat 26: a replayed or expired command is refused', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const { agent, box } = await agentFor(vendor);
  const once = command('c'.repeat(16));
  assert.equal((await agent.handleNudge(once)).accepted, true);
  await agent.idle();
  const replay = await agent.handleNudge(once);
  assert.equal(replay.accepted ? 'accepted' : replay.reason, 'replayed');
  const expired = await agent.handleNudge(command('d'.repeat(16), undefined, -1000));
  assert.equal(expired.accepted ? 'accepted' : expired.reason, 'expired');
  await agent.idle();
  assert.equal(box.jobs.recentJobs().length, 1);
});

test('threat 25: the exported nudge entry point answers even with no agent running', async () => {
  const vendor = await makeVendor();
  const { agent } = await agentFor(vendor);
  await agent.stop();
  const verdict = await handleOtaNudge(announce(99));
  assert.equal(verdict.accepted ? 'accepted' : verdict.reason, 'no update agent running');
});
