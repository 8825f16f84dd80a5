/**
 * Threat 2: root key rotations, ported from python-tuf's test_updater_key_rotations.py. Each case is a chain of
 * root versions (keys of the root role, threshold, which keys sign); the box trusts all but the last, then
 * is offered the last, which it must accept or refuse (keeping the one before).
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { Metadata, Root } from '@tufjs/models';
import { generateSigningKey, serializeMetadata, tufExpiry, type SigningKey } from '../../ota/index.ts';
import { trustFor } from './helpers/trust.ts';
import { makeVendor, overwritePublished } from './helpers/vendor.ts';

interface RootVersion {
  keys: number[];
  threshold: number;
  sigs: number[];
}

const KEYS: SigningKey[] = Array.from({ length: 10 }, (_, i) => generateSigningKey(`rotation-${i}`).key);
const R = (keys: number[], threshold: number, sigs: number[]): RootVersion => ({ keys, threshold, sigs });

/** [name, chain, whether the last version is accepted] */
const CASES: [string, RootVersion[], boolean][] = [
  ['1-of-1 key rotation', [R([1], 1, [1]), R([2], 1, [2, 1])], true],
  ['1-of-1 key rotation, unused signatures', [R([1], 1, [3, 1, 4]), R([2], 1, [3, 2, 1, 4])], true],
  ['1-of-1 key rotation fails: not signed with the old key', [R([1], 1, [1]), R([2], 1, [2, 3, 4])], false],
  ['1-of-1 key rotation fails: not signed with the new key', [R([1], 1, [1]), R([2], 1, [1, 3, 4])], false],
  ['3-of-5, signed with different key combinations', [R([0, 1, 2, 3, 4], 3, [0, 2, 4]), R([0, 1, 2, 3, 4], 3, [0, 4, 1]), R([0, 1, 2, 3, 4], 3, [0, 1, 3])], true],
  ['3-of-5, one key rotated', [R([0, 1, 2, 3, 4], 3, [0, 2, 4]), R([0, 1, 3, 4, 5], 3, [0, 4, 1])], true],
  ['3-of-5, one key rotation fails: not signed with 3 new keys', [R([0, 1, 2, 3, 4], 3, [0, 2, 4]), R([0, 1, 3, 4, 5], 3, [0, 2, 4])], false],
  ['3-of-5, one key rotation fails: not signed with 3 old keys', [R([0, 1, 2, 3, 4], 3, [0, 2, 4]), R([0, 1, 3, 4, 5], 3, [0, 4, 5])], false],
  ['3-of-5, one key rotated with an intermediate step', [R([0, 1, 2, 3, 4], 3, [0, 2, 4]), R([0, 1, 3, 4, 5], 3, [0, 2, 4, 5]), R([0, 1, 3, 4, 5], 3, [0, 4, 5])], true],
  ['3-of-5, all keys rotated with an intermediate step', [R([0, 1, 2, 3, 4], 3, [0, 2, 4]), R([5, 6, 7, 8, 9], 3, [0, 2, 4, 5, 6, 7]), R([5, 6, 7, 8, 9], 3, [5, 6, 7])], true],
  ['3-of-5, all keys rotated at once fails: no old signatures', [R([0, 1, 2, 3, 4], 3, [0, 2, 4]), R([5, 6, 7, 8, 9], 3, [5, 6, 7])], false],
  ['threshold 1-of-3 raised to 2-of-3', [R([1, 2, 3], 1, [1]), R([1, 2, 3], 2, [1, 2])], true],
  ['threshold 1-of-3 raised to 2-of-3 fails: signed by one key', [R([1, 2, 3], 1, [1]), R([1, 2, 3], 2, [2])], false],
  ['threshold 2-of-3 lowered to 1-of-3', [R([1, 2, 3], 2, [1, 2]), R([1, 2, 3], 1, [1, 2]), R([1, 2, 3], 1, [1])], true],
  ['threshold 2-of-3 lowered to 1-of-3 fails: the lowering root has one old signature', [R([1, 2, 3], 2, [1, 2]), R([1, 2, 3], 1, [1])], false],
  ['threshold 1-of-2 raised to 2-of-2 with a new key', [R([1], 1, [1]), R([1, 2], 2, [1, 2])], true],
  ['a new root signed by neither old nor new keys fails', [R([1], 1, [1]), R([2], 1, [3])], false],
];

for (const [name, chain, accepted] of CASES) {
  test(`threat 2: root rotation — ${name}`, async () => {
    const vendor = await makeVendor();
    const base = vendor.repo.root.signed.toJSON() as Record<string, any>;
    const roots = chain.map((version, i) => {
      const json = structuredClone(base);
      json.version = i + 1;
      json.expires = tufExpiry(new Date(Date.now() + 86_400_000));
      for (const k of version.keys) json.keys[KEYS[k].keyId] = KEYS[k].tufKey.toJSON();
      json.roles.root = { keyids: version.keys.map((k) => KEYS[k].keyId), threshold: version.threshold };
      const md = new Metadata(Root.fromJSON(json));
      for (const k of version.sigs) md.sign((data) => KEYS[k].sign(data));
      return md;
    });
    const factoryRoot = path.join(vendor.dir, 'factory-root.json');
    await writeFile(factoryRoot, serializeMetadata(roots[0]));
    for (const root of roots.slice(0, -1)) await overwritePublished(vendor, `${root.signed.version}.root.json`, serializeMetadata(root));
    const box = await trustFor(vendor, { factoryRoot });
    assert.equal((await box.refresh()).root.version, roots.length - 1);

    const last = roots[roots.length - 1];
    await overwritePublished(vendor, `${last.signed.version}.root.json`, serializeMetadata(last));
    if (accepted) {
      assert.equal((await box.refresh()).root.version, roots.length);
    } else {
      await box.refused('INVALID_SIGNATURE');
      assert.equal(await box.liveVersion('root.json'), roots.length - 1, 'the last good root stays trusted');
    }
  });
}

test('threat 2: a root that skips a version (N+2 served as N+1) is refused', async () => {
  const vendor = await makeVendor();
  const box = await trustFor(vendor);
  await box.refresh();
  const json = vendor.repo.root.signed.toJSON() as Record<string, any>;
  json.version = 3;
  const skipping = new Metadata(Root.fromJSON(json));
  skipping.sign((data) => vendor.keys.get('root-1')!.sign(data));
  await overwritePublished(vendor, '2.root.json', serializeMetadata(skipping));
  assert.match(await box.refused('INVALID_METADATA'), /Expected version 2, got 3/);
  await rm(path.join(vendor.published, 'metadata', '2.root.json'));
  assert.equal((await box.refresh()).root.version, 1);
});
