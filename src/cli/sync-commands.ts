import { existsSync } from 'node:fs';
import path from 'node:path';
import { dataPaths } from '../daemon/daemon.ts';
import { DEFAULT_CONFIG_FILE, loadConfig, type Config } from '../daemon/config.ts';
import { deviceId as machineDeviceId } from '../device/index.ts';
import { SyncStore } from '../store/index.ts';
import { provisionDevice, requestSecondOpinion } from '../sync/index.ts';
import { output, parse, UsageError, type ParsedArgs } from './args.ts';
import type { Command } from './command.ts';
import { dataDirOf, openStore } from './daemon-commands.ts';

const commonFlags = { 'data-dir': { type: 'string' }, config: { type: 'string' }, 'device-id': { type: 'string' }, json: { type: 'boolean' } } as const;

function configOf(args: ParsedArgs): Config {
  const file = (args.values.config as string | undefined) ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null);
  return loadConfig(file, { dataDir: dataDirOf(args) });
}

const actor = () => process.env.SUDO_USER ?? process.env.USER ?? 'cli';

const provision: Command = {
  name: 'device provision',
  usage: 'pathbox device provision [--data-dir DIR] [--config FILE] [--device-id ID] [--out DIR] [--force] [--json]',
  summary: "create the box's MQTT identity: a private key (stays on the box) and a certificate signing request",
  async run(argv) {
    const args = parse(argv, { ...commonFlags, out: { type: 'string' }, force: { type: 'boolean' } });
    const config = configOf(args);
    const deviceId = (args.values['device-id'] as string | undefined) ?? config.mqtt.deviceId ?? (await machineDeviceId());
    const dir = path.resolve((args.values.out as string | undefined) ?? path.join(config.dataDir, 'identity'));
    const identity = await provisionDevice({ dir, deviceId, force: args.values.force === true });
    output(args.values.json === true, identity, () => [
      `device ${identity.deviceId}: key ${identity.key} (keep it on the box), request ${identity.csr}`,
      `send ${path.basename(identity.csr)} to the vendor's CA; put the signed certificate and the CA in the configuration:`,
      `  mqtt:\n    deviceId: ${identity.deviceId}\n    key: ${identity.key}\n    cert: ${path.join(dir, 'device.crt')}\n    ca: ${path.join(dir, 'ca.crt')}`,
    ].join('\n'));
  },
};

const request: Command = {
  name: 'second-opinion request',
  usage: 'pathbox second-opinion request SLIDE [--note TEXT] [--data-dir DIR] [--config FILE] [--device-id ID] [--json]',
  summary: 'queue a de-identified package (top regions, thumbnail, heatmap, result) for an expert; SLIDE is an id or SHA-256',
  async run(argv) {
    const args = parse(argv, { ...commonFlags, note: { type: 'string' } });
    const slide = args.positionals[0];
    if (!slide) throw new UsageError('SLIDE is required (an id from pathbox slides list, or a SHA-256)');
    const config = configOf(args);
    const store = openStore(args);
    try {
      const deviceId = (args.values['device-id'] as string | undefined) ?? new SyncStore(store).deviceId() ?? config.mqtt.deviceId ?? (await machineDeviceId());
      const row = await requestSecondOpinion({
        store, deviceId, slide, note: (args.values.note as string | undefined) ?? null, requestedBy: actor(),
        modelsDir: dataPaths(config.dataDir).models, options: config.mqtt.secondOpinion,
      });
      output(args.values.json === true, row, () =>
        `second opinion ${row.requestId} queued for slide ${row.slideId}: ${(row.packageBytes / 1024).toFixed(1)} KiB in ${row.partsTotal} messages` +
        '; the daemon sends it when connected to the cloud');
    } finally {
      store.close();
    }
  },
};

const list: Command = {
  name: 'second-opinion list',
  usage: 'pathbox second-opinion list [--data-dir DIR] [--config FILE] [--json]',
  summary: 'second-opinion requests: upload progress and the experts\' answers',
  async run(argv) {
    const args = parse(argv, { 'data-dir': commonFlags['data-dir'], config: commonFlags.config, json: commonFlags.json });
    const store = openStore(args, { readonly: true });
    try {
      const requests = new SyncStore(store).listSecondOpinions();
      output(args.values.json === true, { requests }, () => requests.map((r) => {
        const answer = r.response as { expert?: string; opinion?: string } | null;
        return `${r.requestId}  slide ${r.slideId}  ${r.state.padEnd(8)} ${r.partsSent}/${r.partsTotal} parts` +
          (answer ? `\n  ${answer.expert ?? 'expert'}: ${answer.opinion}` : '');
      }).join('\n') || 'no second-opinion requests');
    } finally {
      store.close();
    }
  },
};

export const syncCommands: Command[] = [provision, request, list];
