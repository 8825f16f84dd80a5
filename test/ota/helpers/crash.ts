/**
 * Threat 29 harness: a box at cellularity 1.1.0 is offered 1.2.0; a child process is SIGKILLed at one
 * checkpoint of the install, then restarted. After the kill and after the restart: exactly one working
 * active model, consistent trusted metadata, high-water marks never lower; and the job ends terminal.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { Metadata, MetadataKind } from '@tufjs/models';
import { loadBundle, ModelRegistry } from '../../../src/models/index.ts';
import { HighWaterMarkStore, TrustedMetadata, type HighWaterMark, type JobOutcome } from '../../../src/ota/index.ts';
import { Store } from '../../../src/store/index.ts';
import { tempDir } from '../../models/bundle-fixtures.ts';
import { expectOutcome, FAST_LIMITS, makeBox } from './box.ts';
import { RepoServer } from './repo-server.ts';
import { addRelease, makeVendor, type Vendor } from './vendor.ts';

const CHILD = path.join(import.meta.dirname, 'ota-child.ts');

interface World {
  vendor: Vendor;
  server: RepoServer;
  template: string;
  floor: HighWaterMark;
}

let world: World;

/**
 * Builds the shared world once per test file (call it with top-level await, so its folders live until the
 * file ends): vendor, server, and a box data folder at 1.1.0.
 */
export async function crashWorld(): Promise<void> {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const server = await RepoServer.start(vendor.published);
  const box = await makeBox(vendor, { location: server.url });
  expectOutcome(await box.install(), 'SUCCEEDED');
  box.store.close();
  await addRelease(vendor, '1.2.0', 3);
  world = { vendor, server, template: box.dataDir, floor: (await new HighWaterMarkStore(box.otaDir).read())! };
}

function runChild(dataDir: string, killAt: string | null, occurrence: number, failAnalyses = false): Promise<{ signal: NodeJS.Signals | null; outcome: JobOutcome | null; stderr: string }> {
  const options = { dataDir, location: world.server.url, factoryRoot: world.vendor.factoryRoot, trialAnalyses: 2, killAt, occurrence, failAnalyses };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0 && signal === null) reject(new Error(`child exited ${code}: ${stderr}`));
      else resolve({ signal, outcome: stdout.trim() ? (JSON.parse(stdout.trim().split('\n').at(-1)!) as JobOutcome) : null, stderr });
    });
  });
}

/** The invariants after any crash; returns the active version. */
async function checkInvariants(dataDir: string): Promise<string> {
  const registry = new ModelRegistry(path.join(dataDir, 'models'));
  const active = await registry.getActive('cellularity');
  assert.ok(active, 'an installed version is active');
  assert.ok(['1.1.0', '1.2.0'].includes(active.version), `active ${active.version}`);
  await loadBundle(active.dir);
  const otaDir = path.join(dataDir, 'ota');
  const live = await new TrustedMetadata({ dir: otaDir, limits: FAST_LIMITS }).liveDir();
  assert.ok(live, 'trusted metadata is in place');
  for (const [name, kind] of [['root.json', MetadataKind.Root], ['timestamp.json', MetadataKind.Timestamp], ['snapshot.json', MetadataKind.Snapshot]] as const) {
    Metadata.fromJSON(kind as MetadataKind.Root, JSON.parse(await readFile(path.join(live, name), 'utf8')));
  }
  const mark = await new HighWaterMarkStore(otaDir).read();
  assert.ok(mark, 'the high-water mark is readable');
  assert.ok(mark.root >= world.floor.root);
  for (const [role, floor] of Object.entries(world.floor.roles)) {
    const now: HighWaterMark['roles'][string] | undefined = mark.roles[role];
    if (now?.epoch === floor.epoch) assert.ok(now.version >= floor.version, `${role} ${now.version} < ${floor.version}`);
  }
  for (const [id, counter] of Object.entries(world.floor.models)) assert.ok((mark.models[id] ?? 0) >= counter, `release counter of ${id} went down`);
  return active.version;
}

export function crashTest(step: string, occurrence = 1): void {
  test(`threat 29: killed at ${step}${occurrence > 1 ? ` (#${occurrence})` : ''} — one working model throughout, and the update completes after restart`, async () => {
    const dataDir = path.join(await tempDir('pathbox-ota-crash-'), 'data');
    await cp(world.template, dataDir, { recursive: true, verbatimSymlinks: true });
    const killed = await runChild(dataDir, step, occurrence);
    assert.equal(killed.signal, 'SIGKILL', `the child never reached ${step}: ${killed.stderr || JSON.stringify(killed.outcome)}`);
    await checkInvariants(dataDir);
    const restarted = await runChild(dataDir, null, 0);
    assert.ok(restarted.outcome, restarted.stderr);
    assert.ok(['SUCCEEDED', 'ALREADY_INSTALLED'].includes(restarted.outcome.state), `${restarted.outcome.state} ${restarted.outcome.reason}: ${restarted.outcome.detail}`);
    assert.equal(await checkInvariants(dataDir), '1.2.0');
    const store = Store.open(path.join(dataDir, 'pathbox.db'), { readonly: true });
    try {
      const open = store.db.prepare('SELECT COUNT(*) AS n FROM ota_jobs WHERE terminal = 0').get() as { n: number };
      assert.equal(open.n, 0, 'every job reached a terminal state');
    } finally {
      store.close();
    }
  });
}

/** A kill in the middle of a rollback: after the restart the rollback is finished, never undone. */
export function crashDuringRollbackTest(): void {
  test('threat 29/40: killed in the middle of a rollback — the previous model serves and the job ends ROLLED_BACK', async () => {
    const dataDir = path.join(await tempDir('pathbox-ota-crash-'), 'data');
    await cp(world.template, dataDir, { recursive: true, verbatimSymlinks: true });
    const killed = await runChild(dataDir, 'rollback:restored', 1, true);
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.equal(await checkInvariants(dataDir), '1.1.0');
    const restarted = await runChild(dataDir, null, 0, true);
    const store = Store.open(path.join(dataDir, 'pathbox.db'), { readonly: true });
    try {
      const last = store.db.prepare('SELECT state, reason FROM ota_jobs ORDER BY id DESC').all() as { state: string; reason: string }[];
      assert.ok(last.some((j) => `${j.state} ${j.reason}` === 'ROLLED_BACK HEALTH_FAILED'), JSON.stringify(last));
      assert.equal(last.filter((j) => j.state === 'HEALTH_CHECK').length, 0);
    } finally {
      store.close();
    }
    assert.equal(restarted.outcome?.reason, 'RELEASE_BLOCKED', 'the failed release is not tried again');
    assert.equal(await checkInvariants(dataDir), '1.1.0');
  });
}
