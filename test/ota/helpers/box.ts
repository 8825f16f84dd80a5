/** A box for OTA tests: its own data folder, SQLite store, model registry and updater, fast transfer limits. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after } from 'node:test';
import { loadBundle, ModelRegistry } from '../../../src/models/index.ts';
import {
  DEFAULT_OTA_SETTINGS, OtaInstaller, repositorySource, type JobOutcome, type OtaEnvironment, type OtaSettings, type RepositorySource, type TransferLimits,
} from '../../../src/ota/index.ts';
import { OtaStore, Store } from '../../../src/store/index.ts';
import { tempDir } from '../../models/bundle-fixtures.ts';
import type { Vendor } from './vendor.ts';

/** Generous throughput floor (no test may fail on a slow machine) and quick retries. */
export const FAST_LIMITS: TransferLimits = { minBytesPerSecond: 1, throughputWindowMs: 2000, headersTimeoutMs: 5000, maxAttempts: 4, backoffMs: () => 5 };

export interface Box {
  dataDir: string;
  otaDir: string;
  store: Store;
  jobs: OtaStore;
  registry: ModelRegistry;
  installer: OtaInstaller;
  source: RepositorySource;
  install(overrides?: Partial<{ requested: { id: string; version: string } }>): Promise<JobOutcome>;
}

export interface BoxOptions extends Partial<Omit<OtaEnvironment, 'settings'>> {
  settings?: Partial<OtaSettings>;
  /** Where updates come from: a URL or a folder; default the vendor's published folder. */
  location?: string;
}

export async function makeBox(vendor: Vendor, options: BoxOptions = {}): Promise<Box> {
  const dataDir = options.dataDir ?? (await tempDir('pathbox-ota-box-'));
  const store = options.store ?? Store.open(path.join(dataDir, 'pathbox.db'));
  after(() => {
    try {
      store.close();
    } catch {
      // already closed by the test
    }
  });
  const registry = options.registry ?? new ModelRegistry(path.join(dataDir, 'models'));
  const settings: OtaSettings = { ...DEFAULT_OTA_SETTINGS, trialAnalyses: 0, minFreeBytes: 0, limits: FAST_LIMITS, factoryRoot: vendor.factoryRoot, ...options.settings };
  const installer = new OtaInstaller({ deviceId: 'box-under-test', ...options, dataDir, store, registry, settings });
  const source = await repositorySource(options.location ?? vendor.published);
  return {
    dataDir, otaDir: path.join(dataDir, 'ota'), store, jobs: new OtaStore(store), registry, installer, source,
    install: async (overrides = {}) => {
      const outcome = await installer.run({ source, trigger: 'cli', requested: overrides.requested ?? null });
      assert.ok(outcome, 'a request always has an outcome');
      return outcome;
    },
  };
}

/** The model serving for `id`: the registry's active version (verified completely), or null for the built-in. */
export async function activeVersion(box: Box, id = 'cellularity'): Promise<string | null> {
  const active = await box.registry.getActive(id);
  if (!active) return null;
  await loadBundle(active.dir);
  return active.version;
}

export function expectOutcome(outcome: JobOutcome, state: JobOutcome['state'], reason: string | null = null): void {
  assert.equal(`${outcome.state} ${outcome.reason ?? ''}`.trim(), `${state} ${reason ?? ''}`.trim(), outcome.detail ?? '');
}
