/**
 * End to end: the real daemon (bin/pathbox daemon) with a real Mosquitto, the vendor's repository on an HTTP
 * server on loopback. The vendor publishes a new release of the built-in cellularity model while slides keep
 * arriving: the box installs it between two slides, loses and fails no job, every result names the model
 * that produced it, the swap time is recorded, and the fleet receives signed status reports over MQTT.
 * The box learns of the release from the fleet's retained MQTT announcement (a nudge only: what it installs
 * comes from the signed metadata); its own polling is set far beyond the test's length.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { verify } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import YAML from 'yaml';
import type { SignedStatus, StatusBody } from '../../src/ota/index.ts';
import { Store } from '../../src/store/index.ts';
import { projectRoot } from '../helpers/fixtures.ts';
import { dropIntoInbox, PATHBOX, provisionBox, skipUnlessMosquitto, startCloud, syntheticSlides, tempDir } from '../sync/harness.ts';
import { RepoServer } from './helpers/repo-server.ts';
import { addRelease, makeVendor, publishedMetadata } from './helpers/vendor.ts';
import { waitUntil } from '../helpers/wait.ts';

const DEVICE = 'box-ota-e2e';

function query<T>(dataDir: string, read: (store: Store) => T): T {
  const store = Store.open(path.join(dataDir, 'pathbox.db'), { readonly: true });
  try {
    return read(store);
  } finally {
    store.close();
  }
}

function waitFor(what: string, condition: () => boolean, timeoutMs: number, log: string): Promise<void> {
  return waitUntil(what, condition, timeoutMs, { context: async () => `daemon log:\n${(await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n')}` });
}

test('a running box installs a newly published model between two slides and reports it to the fleet', { skip: skipUnlessMosquitto(), timeout: 180_000 }, async () => {
  const dir = tempDir('ota-e2e');
  const cloud = await startCloud(dir);
  after(async () => {
    await cloud.responder.stop();
    await cloud.broker.stop();
  });
  const tls = await provisionBox(cloud, dir, DEVICE);
  const vendor = await makeVendor();
  const server = await RepoServer.start(vendor.published);

  const dataDir = path.join(dir, 'data');
  const inbox = path.join(dir, 'inbox');
  const configFile = path.join(dir, 'pathbox.yaml');
  const log = path.join(dir, 'daemon.log');
  await mkdir(inbox, { recursive: true });
  await writeFile(configFile, YAML.stringify({
    ingest: { settleSeconds: 0, pollSeconds: 0.2 },
    disk: { pauseBelowMB: 0, resumeAboveMB: 0 },
    http: { host: '127.0.0.1', port: 0 },
    mqtt: { ca: tls.ca, cert: tls.cert, key: tls.key, telemetrySeconds: 60, reconnectMaxSeconds: 2 },
    ota: { repositoryUrl: server.url, rootFile: vendor.factoryRoot, pollMinutes: 600, trialAnalyses: 1 },
    log: { level: 'info' },
  }));
  const daemon: ChildProcess = spawn(PATHBOX, ['daemon', '--config', configFile, '--data-dir', dataDir, '--inbox', inbox, '--mqtt-url', cloud.broker.url, '--device-id', DEVICE], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(log);
  daemon.stdout!.pipe(out);
  daemon.stderr!.pipe(out);
  after(() => daemon.kill('SIGKILL'));

  const slides = await syntheticSlides(path.join(dir, 'slides'), 5);
  await dropIntoInbox(slides.slice(0, 1), inbox);
  await waitFor('the first slide analysed with the built-in model', () => query(dataDir, (s) => s.countSlidesByState().done === 1), 90_000, log);

  await addRelease(vendor, '1.1.0', 2);
  const timestamp = JSON.parse((await publishedMetadata(vendor, 'timestamp.json')).toString('utf8')) as { signed: { version: number } };
  await cloud.responder.announce('pathbox/v1/fleet/ota', JSON.stringify({ type: 'ota-announce', v: 1, timestampVersion: timestamp.signed.version }), { retain: true });
  await dropIntoInbox(slides.slice(1), inbox);
  await waitFor('every slide analysed', () => query(dataDir, (s) => s.countSlidesByState().done === slides.length), 120_000, log);
  await waitFor('the update committed', () => query(dataDir, (s) => s.db.prepare("SELECT COUNT(*) AS n FROM ota_jobs WHERE state = 'SUCCEEDED'").get() as { n: number }).n === 1, 60_000, log);

  const { counts, results, swaps } = query(dataDir, (s) => ({
    counts: s.countSlidesByState(),
    results: s.listSlides().flatMap((slide) => s.resultsForSlide(slide.id)).sort((a, b) => a.id - b.id),
    swaps: s.recentEvents({ kinds: ['ota.model.swapped'] }),
  }));
  assert.equal(counts.failed, 0);
  assert.equal(results.length, slides.length, 'one result per slide, none lost');
  const versions = results.map((r) => r.modelVersion);
  assert.equal(versions[0], '1.0.0');
  assert.equal(versions.at(-1), '1.1.0', `results by version: ${versions.join(', ')}`);
  assert.deepEqual(versions, [...versions].sort(), 'no result by the old model after the switch');
  for (const r of results) assert.deepEqual([r.modelRelease, r.modelDigest.startsWith('sha256:')], [r.modelVersion === '1.0.0' ? 1 : 2, true]);
  assert.equal(swaps.length, 1);
  const swap = swaps[0].details as { from: string; to: string; ms: number };
  assert.deepEqual([swap.from, swap.to], ['1.0.0', '1.1.0']);
  assert.ok(Number.isFinite(swap.ms) && swap.ms >= 0);

  await cloud.responder.waitFor('the SUCCEEDED report over MQTT', () => cloud.responder.captured.some((m) => m.topic === `pathbox/v1/${DEVICE}/ota/status` && m.payload.includes('SUCCEEDED')), 30_000);
  const reports = cloud.responder.captured.filter((m) => m.topic === `pathbox/v1/${DEVICE}/ota/status`).map((m) => {
    const envelope = JSON.parse(m.payload.toString('utf8')) as SignedStatus;
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(envelope.publicKey, 'hex')]);
    assert.ok(verify(null, Buffer.from(envelope.body), { key: spki, format: 'der', type: 'spki' }, Buffer.from(envelope.sig, 'hex')));
    return JSON.parse(envelope.body) as StatusBody;
  });
  const installing: string[] = reports.filter((r) => r.model?.version === '1.1.0').map((r) => r.state);
  assert.ok(['DEFERRED', 'ACTIVATING', 'HEALTH_CHECK', 'SUCCEEDED'].every((s) => installing.includes(s)), installing.join(', '));
  process.stdout.write(`# model swap between slides took ${swap.ms} ms; results by version: ${versions.join(', ')}\n`);
});
