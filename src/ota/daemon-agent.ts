/** The updater as the daemon runs it, built from the `ota` configuration section. */
import type { Logger } from '../daemon/logger.ts';
import type { ModelRegistry } from '../models/index.ts';
import type { Store } from '../store/index.ts';
import { OtaAgent } from './agent.ts';
import type { OtaConfig } from './config.ts';
import { DEFAULT_OTA_SETTINGS, type ActivationHooks } from './settings.ts';

export function daemonOtaAgent(config: OtaConfig, box: { dataDir: string; store: Store; registry: ModelRegistry; logger: Logger; deviceId: string; activation: ActivationHooks }): OtaAgent {
  const base = config.repositoryUrl?.endsWith('/') ? config.repositoryUrl : `${config.repositoryUrl}/`;
  return new OtaAgent({
    ...box,
    logger: box.logger.child({ stage: 'ota' }),
    settings: { ...DEFAULT_OTA_SETTINGS, trialAnalyses: config.trialAnalyses, factoryRoot: config.rootFile },
    source: config.repositoryUrl ? { metadataUrl: `${base}metadata/`, targetsUrl: `${base}targets/` } : null,
    pollMs: config.pollMinutes * 60_000,
  });
}
