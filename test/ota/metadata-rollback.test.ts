/**
 * TUF rollback, mix-and-match, freeze, torn-file and clock attacks (../shared/OTA-THREATS.md 4.1 #6-12,
 * 4.3 #30, #34) against a real repository; the high-water marks are the box's own defence on top of tuf-js.
 */
import assert from 'node:assert/strict';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { Metadata, MetadataKind, Snapshot } from '@tufjs/models';
import { serializeMetadata, tufExpiry } from '../../ota/index.ts';
import { HOUR, metaFor, newRoot, vouchForSnapshot } from './helpers/metadata.ts';
import { trustFor } from './helpers/trust.ts';
import {
  addRelease, key, makeVendor, overwritePublished, publishedMetadata, publishUnchecked, resignWith, tamperPublished,
} from './helpers/vendor.ts';

test('threat 6: an older timestamp version is refused as a rollback', async () => {
  const vendor = await makeVendor();
  const old = await publishedMetadata(vendor, 'timestamp.json');
  vendor.repo.commit(vendor.keys);
  await vendor.publish();
  const box = await trustFor(vendor);
  const trusted = (await box.refresh()).versions.timestamp;
  await overwritePublished(vendor, 'timestamp.json', old);
  await box.refused('METADATA_ROLLBACK');
  assert.equal(await box.liveVersion('timestamp.json'), trusted);
});

test('threat 6: an older snapshot version inside a newer timestamp is refused', async () => {
  const vendor = await makeVendor();
  const oldSnapshot = vendor.repo.snapshot;
  vendor.repo.commit(vendor.keys, { snapshot: {} });
  await vendor.publish();
  const box = await trustFor(vendor);
  await box.refresh();
  vendor.repo.snapshot = oldSnapshot;
  vendor.repo.commit(vendor.keys);
  await publishUnchecked(vendor);
  await box.refused('METADATA_ROLLBACK');
});

test('threat 6: an older targets version listed by a newer snapshot is refused', async () => {
  const vendor = await makeVendor();
  const oldTargets = vendor.repo.targets;
  vendor.repo.resign(['targets'], vendor.keys);
  await vendor.publish();
  const box = await trustFor(vendor);
  await box.refresh();
  vendor.repo.targets = oldTargets;
  vendor.repo.commit(vendor.keys);
  await publishUnchecked(vendor);
  await box.refused('METADATA_ROLLBACK');
});

test('threat 7: an older timestamp is refused even when the local one has expired', async () => {
  const vendor = await makeVendor();
  const older = await publishedMetadata(vendor, 'timestamp.json');
  vendor.repo.resign(['timestamp'], vendor.keys, { expires: new Date(Date.now() + 1500) });
  await vendor.publish();
  const box = await trustFor(vendor);
  await box.refresh();
  await new Promise((resolve) => setTimeout(resolve, 2100));
  await overwritePublished(vendor, 'timestamp.json', older);
  await box.refused('METADATA_ROLLBACK');
});

test('threat 8: after the local timestamp.json is truncated, an older timestamp is still refused (high-water mark)', async () => {
  const vendor = await makeVendor();
  const older = await publishedMetadata(vendor, 'timestamp.json');
  vendor.repo.commit(vendor.keys);
  await vendor.publish();
  const box = await trustFor(vendor);
  await box.refresh();
  await truncate(path.join((await box.trusted.liveDir())!, 'timestamp.json'), 10);
  await overwritePublished(vendor, 'timestamp.json', older);
  assert.match(await box.refused('METADATA_ROLLBACK'), /timestamp version 1 is below version 2 trusted before/);
});

test('threat 8: after local timestamp.json and snapshot.json are deleted, an older pair is still refused', async () => {
  const vendor = await makeVendor();
  const olderTimestamp = await publishedMetadata(vendor, 'timestamp.json');
  vendor.repo.commit(vendor.keys, { snapshot: {} });
  await vendor.publish();
  const box = await trustFor(vendor);
  await box.refresh();
  const live = (await box.trusted.liveDir())!;
  await rm(path.join(live, 'timestamp.json'));
  await writeFile(path.join(live, 'snapshot.json'), '\0\0\0');
  await overwritePublished(vendor, 'timestamp.json', olderTimestamp);
  await box.refused('METADATA_ROLLBACK');
});

test('threat 30: one torn high-water-mark copy does not lose the mark', async () => {
  const vendor = await makeVendor();
  const older = await publishedMetadata(vendor, 'timestamp.json');
  vendor.repo.commit(vendor.keys);
  await vendor.publish();
  const box = await trustFor(vendor);
  await box.refresh();
  await truncate(path.join(box.dir, 'hwm-a.json'), 7);
  await rm(path.join((await box.trusted.liveDir())!, 'timestamp.json'));
  await overwritePublished(vendor, 'timestamp.json', older);
  await box.refused('METADATA_ROLLBACK');
});

test('threat 9: after a timestamp key rotation the box recovers from a fast-forwarded timestamp', async () => {
  const vendor = await makeVendor();
  vendor.repo.commit(vendor.keys, { timestamp: { version: 999 } });
  await vendor.publish();
  const box = await trustFor(vendor);
  assert.equal((await box.refresh()).versions.timestamp, 999);
  const fresh = vendor.newKey('timestamp-new');
  vendor.repo.rotateKeys('timestamp', vendor.keys, { add: [fresh], remove: [key(vendor, 'timestamp').keyId] });
  vendor.repo.commit(vendor.keys, { timestamp: { version: 4 } });
  await vendor.publish();
  const view = await box.refresh();
  assert.equal(view.versions.timestamp, 4);
  assert.equal(view.root.version, 2);
});

test('threat 9: after a snapshot key rotation the box recovers from a fast-forwarded snapshot', async () => {
  const vendor = await makeVendor();
  vendor.repo.commit(vendor.keys, { snapshot: { version: 999 } });
  await vendor.publish();
  const box = await trustFor(vendor);
  assert.equal((await box.refresh()).versions.snapshot, 999);
  const fresh = vendor.newKey('snapshot-new');
  vendor.repo.rotateKeys('snapshot', vendor.keys, { add: [fresh], remove: [key(vendor, 'snapshot').keyId] });
  vendor.repo.commit(vendor.keys, { snapshot: { version: 5 } });
  await vendor.publish();
  assert.equal((await box.refresh()).versions.snapshot, 5);
});

test('threat 9: after a snapshot key rotation the box recovers from a fast-forwarded targets role', async () => {
  const vendor = await makeVendor();
  vendor.repo.resign(['targets'], vendor.keys, { version: 999 });
  await vendor.publish();
  const box = await trustFor(vendor);
  assert.equal((await box.refresh()).versions.targets, 999);
  const fresh = vendor.newKey('snapshot-new');
  vendor.repo.rotateKeys('snapshot', vendor.keys, { add: [fresh], remove: [key(vendor, 'snapshot').keyId] });
  vendor.repo.resign(['targets'], vendor.keys, { version: 3 });
  await vendor.publish();
  assert.equal((await box.refresh()).versions.targets, 3);
});

test('threat 10: targets whose version differs from the snapshot\'s listing is refused (mix-and-match)', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  vendor.repo.resign(['targets'], vendor.keys);
  const targets = vendor.repo.targets;
  const listed = targets.signed.version + 1;
  await overwritePublished(vendor, `${listed}.targets.json`, serializeMetadata(targets));
  vendor.repo.snapshot = new Metadata(new Snapshot({ version: vendor.repo.snapshot.signed.version + 1, specVersion: '1.0.31', expires: tufExpiry(new Date(Date.now() + HOUR)), meta: { 'targets.json': metaFor(targets, listed) } }));
  resignWith(vendor.repo.snapshot, [key(vendor, 'snapshot')]);
  vouchForSnapshot(vendor);
  await publishUnchecked(vendor);
  assert.match(await box.refused('INVALID_METADATA'), /does not match snapshot version/);
});

test('threat 10: targets whose bytes differ from the snapshot\'s hash is refused (mix-and-match)', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  vendor.repo.resign(['targets'], vendor.keys);
  await vendor.publish();
  const name = `${vendor.repo.targets.signed.version}.targets.json`;
  await tamperPublished(vendor, name, MetadataKind.Targets, (signed) => {
    signed.expires = tufExpiry(new Date(Date.now() + 2 * HOUR));
  }, [key(vendor, 'targets')]);
  assert.match(await box.refused('INVALID_METADATA'), /Expected (hash|length)/);
});

test('threat 10: a snapshot that drops a role the previous snapshot listed is refused', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const box = await trustFor(vendor);
  await box.refresh();
  vendor.repo.snapshot = new Metadata(new Snapshot({
    version: vendor.repo.snapshot.signed.version + 1, specVersion: '1.0.31', expires: tufExpiry(new Date(Date.now() + HOUR)),
    meta: { 'targets.json': metaFor(vendor.repo.targets) },
  }));
  resignWith(vendor.repo.snapshot, [key(vendor, 'snapshot')]);
  vouchForSnapshot(vendor);
  await publishUnchecked(vendor);
  await box.refused('METADATA_ROLLBACK');
});

for (const role of ['timestamp', 'snapshot', 'targets'] as const) {
  test(`threat 11: an expired ${role} is refused (freeze) and the earlier metadata stays trusted`, async () => {
    const vendor = await makeVendor();
    const box = await trustFor(vendor);
    const trusted = (await box.refresh()).versions.timestamp;
    vendor.repo.resign([role], vendor.keys, { expires: new Date(Date.now() - HOUR) });
    await vendor.publish();
    await box.refused('EXPIRED_METADATA');
    assert.equal(await box.liveVersion('timestamp.json'), trusted);
  });
}

test('threat 11: an expired final root is refused (freeze)', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  newRoot(vendor, (json) => {
    json.expires = tufExpiry(new Date(Date.now() - HOUR));
  });
  await vendor.publish();
  assert.match(await box.refused('EXPIRED_METADATA'), /root/);
  assert.equal(await box.liveVersion('root.json'), 1);
});

test('threat 12: an equal timestamp version is a no-op, not an error', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  const first = await box.refresh();
  const again = await box.refresh();
  assert.deepEqual(again.versions, first.versions);
});

test('threat 30: an unreadable root.json falls back to the factory root and walks the chain again', async () => {
  const vendor = await makeVendor();
  newRoot(vendor, () => {});
  newRoot(vendor, () => {});
  await vendor.publish();
  const box = await trustFor(vendor);
  assert.equal((await box.refresh()).root.version, 3);
  await writeFile(path.join((await box.trusted.liveDir())!, 'root.json'), '{"trunc');
  assert.equal((await box.refresh()).root.version, 3);
});

test('threat 30: a walk from the factory root never ends below the highest root seen', async () => {
  const vendor = await makeVendor();
  newRoot(vendor, () => {});
  newRoot(vendor, () => {});
  await vendor.publish();
  const box = await trustFor(vendor);
  await box.refresh();
  await writeFile(path.join((await box.trusted.liveDir())!, 'root.json'), '');
  await rm(path.join(vendor.published, 'metadata', '3.root.json'));
  assert.match(await box.refused('METADATA_ROLLBACK'), /root version 2 is below version 3/);
});

test('threat 34: a clock in 1970 refuses new metadata and changes nothing', async () => {
  const vendor = await makeVendor();
  let now = new Date(0);
  const box = await trustFor(vendor, { now: () => now });
  await box.refused('CLOCK_UNTRUSTED');
  assert.equal(await box.trusted.liveDir(), null);
  assert.equal(await box.trusted.marks.read(), null);
  now = new Date();
  assert.equal((await box.refresh()).versions.timestamp, vendor.repo.timestamp.signed.version);
});

test('threat 34: a clock in the far future is refused, not persisted, and fixing it recovers', async () => {
  const vendor = await makeVendor();
  let now = new Date(8.64e15);
  const box = await trustFor(vendor, { now: () => now });
  await box.refused('CLOCK_UNTRUSTED');
  now = new Date('3000-01-01T00:00:00Z');
  await box.refused('CLOCK_UNTRUSTED');
  assert.equal(await box.trusted.marks.read(), null, 'nothing derived from the bad clock was written');
  now = new Date();
  assert.equal((await box.refresh()).versions.timestamp, vendor.repo.timestamp.signed.version);
});

test('threat 34: metadata that expired while the box was offline does not stop it refreshing', async () => {
  const vendor = await makeVendor();
  vendor.repo.resign(['timestamp', 'snapshot'], vendor.keys, { expires: new Date(Date.now() + 1500) });
  await vendor.publish();
  const box = await trustFor(vendor);
  await box.refresh();
  await new Promise((resolve) => setTimeout(resolve, 2100));
  vendor.repo.resign(['snapshot', 'timestamp'], vendor.keys);
  await vendor.publish();
  const view = await box.refresh();
  assert.equal(view.versions.timestamp, vendor.repo.timestamp.signed.version);
  assert.ok(Date.parse(view.expires.timestamp) > Date.now());
  assert.ok((await readFile(path.join((await box.trusted.liveDir())!, 'timestamp.json'))).length > 0);
});
