/** A box's trusted-metadata store alone (no installer), for the metadata attack tests. */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { isOtaError, repositorySource, TrustedMetadata, type MetadataView, type OtaReason } from '../../../src/ota/index.ts';
import { tempDir } from '../../models/bundle-fixtures.ts';
import { FAST_LIMITS } from './box.ts';
import type { Vendor } from './vendor.ts';

export interface TrustHarness {
  dir: string;
  trusted: TrustedMetadata;
  refresh(): Promise<MetadataView>;
  /** Refreshes, expecting an OtaError with `reason`; returns its message. */
  refused(reason: OtaReason): Promise<string>;
  /** The `signed.version` of a live metadata file, or null when there is none. */
  liveVersion(name: string): Promise<number | null>;
}

export async function trustFor(vendor: Vendor, options: { factoryRoot?: string; now?: () => Date; location?: string } = {}): Promise<TrustHarness> {
  const dir = path.join(await tempDir('pathbox-ota-trust-'), 'ota');
  await mkdir(dir, { recursive: true });
  const trusted = new TrustedMetadata({ dir, factoryRoot: options.factoryRoot ?? vendor.factoryRoot, limits: FAST_LIMITS, now: options.now });
  const source = await repositorySource(options.location ?? vendor.published);
  const refresh = () => trusted.refresh(source, AbortSignal.timeout(30_000));
  return {
    dir, trusted, refresh,
    refused: async (reason) => {
      try {
        await refresh();
      } catch (e) {
        assert.ok(isOtaError(e), `expected an OtaError, got ${String(e)}`);
        assert.equal(e.reason, reason, e.message);
        return e.message;
      }
      assert.fail(`the refresh was accepted; expected ${reason}`);
    },
    liveVersion: async (name) => {
      const live = await trusted.liveDir();
      if (!live) return null;
      try {
        return JSON.parse(await readFile(path.join(live, name), 'utf8')).signed.version;
      } catch {
        return null;
      }
    },
  };
}
