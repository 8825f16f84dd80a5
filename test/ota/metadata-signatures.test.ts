/**
 * TUF signature and structure attacks (../shared/OTA-THREATS.md 4.1 #1, 3-5, 13-16, 20, 21), each against a
 * real repository signed with real Ed25519 keys. "REJECT" means: the refresh throws an OtaError with the
 * reason, and the metadata the box trusted before stays live.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { Metadata, MetadataKind, Signature, Snapshot, Targets, Timestamp } from '@tufjs/models';
import { serializeMetadata, tufExpiry } from '../../ota/index.ts';
import { HOUR, metaFor, newRoot, vouchForSnapshot } from './helpers/metadata.ts';
import { RepoServer } from './helpers/repo-server.ts';
import { trustFor } from './helpers/trust.ts';
import {
  addRelease, key, makeVendor, overwritePublished, publishedMetadata, publishUnchecked, resignWith, tamperPublished,
} from './helpers/vendor.ts';

test('threat 1: an unsigned initial root is refused and nothing is trusted', async () => {
  const vendor = await makeVendor();
  const unsigned = path.join(vendor.dir, 'unsigned-root.json');
  const json = JSON.parse((await publishedMetadata(vendor, '1.root.json')).toString('utf8'));
  json.signatures = [];
  await writeFile(unsigned, JSON.stringify(json));
  const box = await trustFor(vendor, { factoryRoot: unsigned });
  await box.refused('INVALID_SIGNATURE');
  assert.equal(await box.trusted.liveDir(), null);
});

test('threat 1: an initial root signed below its own threshold is refused', async () => {
  const vendor = await makeVendor({ rootThreshold: 2 });
  const json = JSON.parse((await publishedMetadata(vendor, '1.root.json')).toString('utf8'));
  json.signatures = json.signatures.slice(0, 1);
  const below = path.join(vendor.dir, 'below-threshold-root.json');
  await writeFile(below, JSON.stringify(json));
  const box = await trustFor(vendor, { factoryRoot: below });
  assert.match(await box.refused('INVALID_SIGNATURE'), /1\/2/);
  assert.equal(await box.trusted.liveDir(), null);
});

test('threat 3: one signature listed twice does not reach a threshold of two', async () => {
  const vendor = await makeVendor();
  const second = vendor.newKey('timestamp-2');
  vendor.repo.rotateKeys('timestamp', vendor.keys, { add: [second], threshold: 2 });
  await vendor.publish();
  const box = await trustFor(vendor);
  await box.refresh();
  vendor.repo.commit(vendor.keys);
  const json = vendor.repo.timestamp.toJSON() as { signatures: { keyid: string; sig: string }[] };
  const own = json.signatures.find((s) => s.keyid === key(vendor, 'timestamp').keyId)!;
  json.signatures = [own, { ...own }];
  await publishUnchecked(vendor);
  await overwritePublished(vendor, 'timestamp.json', JSON.stringify(json));
  await box.refused('INVALID_METADATA');
  assert.equal(await box.liveVersion('timestamp.json'), vendor.repo.timestamp.signed.version - 1);
});

test('threat 3: one key listed under two key ids does not reach a threshold of two', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  const timestampKey = key(vendor, 'timestamp');
  const alias = 'a'.repeat(64);
  vendor.repo.commit(vendor.keys);
  newRoot(vendor, (json) => {
    json.keys[alias] = json.keys[timestampKey.keyId];
    json.roles.timestamp = { keyids: [timestampKey.keyId, alias], threshold: 2 };
  });
  const signed = vendor.repo.timestamp;
  signed.signatures[alias] = new Signature({ keyID: alias, sig: signed.signatures[timestampKey.keyId].sig });
  await publishUnchecked(vendor);
  assert.match(await box.refused('INVALID_METADATA'), /under two key ids/);
  assert.equal(await box.liveVersion('root.json'), 1);
});

test('threat 4: one invalid signature among enough valid ones is accepted', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  vendor.repo.commit(vendor.keys);
  const stranger = vendor.newKey('stranger');
  vendor.repo.timestamp.sign(() => new Signature({ keyID: stranger.keyId, sig: '00'.repeat(64) }));
  await publishUnchecked(vendor);
  const view = await box.refresh();
  assert.equal(view.versions.timestamp, vendor.repo.timestamp.signed.version);
});

test('threat 4: a key of an unknown type or scheme is ignored, not a crash', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  const odd = 'b'.repeat(64);
  newRoot(vendor, (json) => {
    json.keys[odd] = { keytype: 'rsa-quantum', scheme: 'unknown-scheme', keyval: { public: 'not-a-key' } };
    json.roles.timestamp.keyids.push(odd);
  });
  vendor.repo.commit(vendor.keys);
  vendor.repo.timestamp.signatures[odd] = new Signature({ keyID: odd, sig: 'cafe' });
  await publishUnchecked(vendor);
  const view = await box.refresh();
  assert.equal(view.root.version, 2);
  assert.equal(view.versions.timestamp, vendor.repo.timestamp.signed.version);
});

for (const role of ['timestamp', 'snapshot', 'targets'] as const) {
  test(`threat 5: ${role} signed by a key the root does not name for it is refused`, async () => {
    const vendor = await makeVendor();
    const box = await trustFor(vendor);
    const before = (await box.refresh()).versions.timestamp;
    const wrong = key(vendor, role === 'timestamp' ? 'snapshot' : 'timestamp');
    if (role === 'targets') {
      vendor.repo.resign(['targets'], vendor.keys);
      resignWith(vendor.repo.targets, [wrong]);
      vendor.repo.commit(vendor.keys, { snapshot: {} });
    } else if (role === 'snapshot') {
      vendor.repo.commit(vendor.keys, { snapshot: {} });
      resignWith(vendor.repo.snapshot, [wrong]);
      vendor.repo.commit(vendor.keys);
    } else {
      vendor.repo.commit(vendor.keys);
      resignWith(vendor.repo.timestamp, [wrong]);
    }
    await publishUnchecked(vendor);
    await box.refused('INVALID_SIGNATURE');
    assert.equal(await box.liveVersion('timestamp.json'), before, 'the previous metadata stays trusted');
  });
}

test('threat 13: timestamp content served as the next root is refused (_type mismatch)', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  await overwritePublished(vendor, '2.root.json', await publishedMetadata(vendor, 'timestamp.json'));
  assert.match(await box.refused('INVALID_METADATA'), /expected 'root', got timestamp/i);
});

test('threat 14: 3.snapshot.json that holds another version is refused', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  const served = vendor.repo.snapshot.signed.version + 1;
  vendor.repo.snapshot = new Metadata(new Snapshot({ version: served + 1, specVersion: '1.0.31', expires: tufExpiry(new Date(Date.now() + HOUR)), meta: vendor.repo.snapshot.signed.meta }));
  resignWith(vendor.repo.snapshot, [key(vendor, 'snapshot')]);
  await overwritePublished(vendor, `${served}.snapshot.json`, serializeMetadata(vendor.repo.snapshot));
  vendor.repo.timestamp = new Metadata(new Timestamp({ version: vendor.repo.timestamp.signed.version + 1, specVersion: '1.0.31', expires: tufExpiry(new Date(Date.now() + HOUR)), snapshotMeta: metaFor(vendor.repo.snapshot, served) }));
  resignWith(vendor.repo.timestamp, [key(vendor, 'timestamp')]);
  await overwritePublished(vendor, 'timestamp.json', serializeMetadata(vendor.repo.timestamp));
  assert.match(await box.refused('INVALID_METADATA'), /doesn't match timestamp/);
});

test('threat 15: a delegated role missing from the snapshot is refused', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const meta = { ...vendor.repo.snapshot.signed.meta };
  delete meta['model-cellularity.json'];
  const fresh = await trustFor(vendor);
  vendor.repo.snapshot = new Metadata(new Snapshot({ version: vendor.repo.snapshot.signed.version + 1, specVersion: '1.0.31', expires: tufExpiry(new Date(Date.now() + HOUR)), meta }));
  resignWith(vendor.repo.snapshot, [key(vendor, 'snapshot')]);
  vouchForSnapshot(vendor);
  await publishUnchecked(vendor);
  // tuf-js 5 fails on the missing entry with a TypeError; refused either way, and nothing is trusted.
  await fresh.refused('INVALID_METADATA');
  assert.equal(await fresh.trusted.liveDir(), null);
});

test('threat 15: a role named "../escape" is stored inside the metadata folder', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  const name = '../escape';
  const targetsJson = vendor.repo.targets.signed.toJSON() as Record<string, any>;
  targetsJson.version += 1;
  targetsJson.delegations.roles[0].name = name;
  vendor.repo.targets = Metadata.fromJSON(MetadataKind.Targets, { signed: targetsJson, signatures: [] });
  resignWith(vendor.repo.targets, [key(vendor, 'targets')]);
  const role = vendor.repo.delegated.get('model-cellularity')!;
  vendor.repo.snapshot = new Metadata(new Snapshot({
    version: vendor.repo.snapshot.signed.version + 1, specVersion: '1.0.31', expires: tufExpiry(new Date(Date.now() + HOUR)),
    meta: { 'targets.json': metaFor(vendor.repo.targets), [`${name}.json`]: metaFor(role) },
  }));
  resignWith(vendor.repo.snapshot, [key(vendor, 'snapshot')]);
  vouchForSnapshot(vendor);
  await publishUnchecked(vendor);
  // What a server that decodes %2F would answer for 1.../escape.json.
  await mkdir(path.join(vendor.published, 'metadata', `${role.signed.version}...`), { recursive: true });
  await writeFile(path.join(vendor.published, 'metadata', `${role.signed.version}...`, 'escape.json'), serializeMetadata(role));
  const server = await RepoServer.start(vendor.published);
  const box = await trustFor(vendor, { location: server.url });
  const view = await box.refresh();
  assert.deepEqual(view.releases.map((r) => r.facts.version), ['1.1.0'], 'the oddly named role was loaded and used');
  const live = (await box.trusted.liveDir())!;
  assert.ok((await readdir(live)).includes(`${encodeURIComponent(name)}.json`));
  for (const outside of [path.join(live, '..', 'escape.json'), path.join(box.dir, '..', 'escape.json')]) {
    assert.equal(await stat(outside).then(() => true, () => false), false, `${outside} must not exist`);
  }
});

test('threat 15: a release listed by a role not delegated its path is not offered', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  await addRelease(vendor, '9.0.0', 90);
  // Move the 9.0.0 release into a second role delegated only models/evil/*.
  const cellularity = vendor.repo.delegated.get('model-cellularity')!;
  const stolen = Object.fromEntries(Object.entries(cellularity.signed.targets).filter(([p]) => p.includes('/9.0.0/')));
  const kept = Object.fromEntries(Object.entries(cellularity.signed.targets).filter(([p]) => !p.includes('/9.0.0/')));
  vendor.repo.delegated.set('model-cellularity', new Metadata(new Targets({ version: cellularity.signed.version + 1, specVersion: '1.0.31', expires: cellularity.signed.expires, targets: kept })));
  resignWith(vendor.repo.delegated.get('model-cellularity')!, [key(vendor, 'models')]);
  const targetsJson = vendor.repo.targets.signed.toJSON() as Record<string, any>;
  targetsJson.version += 1;
  targetsJson.delegations.roles.push({ name: 'model-evil', keyids: [key(vendor, 'models').keyId], threshold: 1, terminating: true, paths: ['models/evil/*/*'] });
  vendor.repo.targets = Metadata.fromJSON(MetadataKind.Targets, { signed: targetsJson, signatures: [] });
  resignWith(vendor.repo.targets, [key(vendor, 'targets')]);
  const evilRole = new Metadata(new Targets({ version: 1, specVersion: '1.0.31', expires: cellularity.signed.expires, targets: stolen }));
  resignWith(evilRole, [key(vendor, 'models')]);
  vendor.repo.delegated.set('model-evil', evilRole);
  vendor.repo.commit(vendor.keys);
  await publishUnchecked(vendor);
  const box = await trustFor(vendor);
  const view = await box.refresh();
  assert.deepEqual(view.releases.map((r) => r.facts.version), ['1.1.0']);
  assert.equal(view.unusable.find((u) => u.version === '9.0.0')?.reason, 'NOT_AUTHORISED');
});

test('threat 16: a release file signed with only an unknown hash algorithm is unusable', async () => {
  const vendor = await makeVendor();
  await addRelease(vendor, '1.1.0', 2);
  await tamperPublished(vendor, `${vendor.repo.delegated.get('model-cellularity')!.signed.version}.model-cellularity.json`, MetadataKind.Targets, (signed) => {
    const targets = signed.targets as Record<string, { hashes: Record<string, string> }>;
    const onnx = Object.keys(targets).find((p) => p.endsWith('fp32.onnx'))!;
    targets[onnx].hashes = { 'sha3-whirlpool': targets[onnx].hashes.sha256 };
  }, [key(vendor, 'models')]);
  // The role's bytes changed: the snapshot and timestamp must vouch for them again (a compromised models key alone cannot).
  const name = `${vendor.repo.delegated.get('model-cellularity')!.signed.version}.model-cellularity.json`;
  const bytes = await publishedMetadata(vendor, name);
  const role = Metadata.fromJSON(MetadataKind.Targets, JSON.parse(bytes.toString('utf8')));
  vendor.repo.delegated.set('model-cellularity', role);
  vendor.repo.commit(vendor.keys);
  await publishUnchecked(vendor);
  const box = await trustFor(vendor);
  const view = await box.refresh();
  assert.equal(view.releases.length, 0);
  assert.match(view.unusable[0].problem, /sha256 none/);
});

test('threat 20: a timestamp larger than 16 KB is cut off at the cap', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  vendor.repo.commit(vendor.keys);
  await publishUnchecked(vendor);
  const bytes = await publishedMetadata(vendor, 'timestamp.json');
  await overwritePublished(vendor, 'timestamp.json', Buffer.concat([bytes, Buffer.alloc(20_000, 0x20)]));
  await box.refused('ENDLESS_DATA');
});

test('threat 20: a snapshot longer than the length the timestamp signs is cut off', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  vendor.repo.commit(vendor.keys, { snapshot: {} });
  await vendor.publish();
  const name = `${vendor.repo.snapshot.signed.version}.snapshot.json`;
  await overwritePublished(vendor, name, Buffer.concat([await publishedMetadata(vendor, name), Buffer.alloc(100_000, 0x20)]));
  await box.refused('ENDLESS_DATA');
});

test('threat 20: a root larger than 512 KB is cut off', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  newRoot(vendor, () => {});
  await vendor.publish();
  await overwritePublished(vendor, '2.root.json', Buffer.concat([await publishedMetadata(vendor, '2.root.json'), Buffer.alloc(600_000, 0x20)]));
  await box.refused('ENDLESS_DATA');
  assert.equal(await box.liveVersion('root.json'), 1);
});

test('threat 21: a chain of 40 new roots stops at the rotation limit and keeps the last valid root', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  for (let i = 0; i < 40; i++) newRoot(vendor, () => {});
  await vendor.publish();
  assert.equal((await box.refresh()).root.version, 33);
  assert.equal((await box.refresh()).root.version, 41);
});

