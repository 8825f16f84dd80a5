import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  DEFAULT_KEY_NAMES, exportUsb, loadKeys, publishRepository, Repository, repositoryStatus, writeNewKeys, type TopRole,
} from '../../ota/index.ts';
import { dataPaths } from '../daemon/daemon.ts';
import { deviceId } from '../device/index.ts';
import { ModelRegistry } from '../models/index.ts';
import { DEFAULT_OTA_SETTINGS, HighWaterMarkStore, OtaInstaller, repositorySource, TrustedMetadata } from '../ota/index.ts';
import { OtaStore, Store } from '../store/index.ts';
import { integer, output, parse, requiredString, UsageError } from './args.ts';
import type { Command } from './command.ts';

const json = { json: { type: 'boolean' } } as const;

function list(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : [];
}

const keygen: Command = {
  name: 'ota keygen',
  usage: 'pathbox ota keygen --out KEYDIR [--name NAME]...',
  summary: 'vendor: Ed25519 signing keys (default: root-1..3, targets, snapshot, timestamp, models)',
  async run(argv) {
    const args = parse(argv, { out: { type: 'string' }, name: { type: 'string', multiple: true }, ...json });
    const names = list(args.values.name);
    const keys = await writeNewKeys(requiredString(args, 'out'), names.length ? names : DEFAULT_KEY_NAMES);
    output(args.values.json === true, { keys: keys.map((k) => ({ name: k.name, keyId: k.keyId })) }, () => keys.map((k) => `${k.name}  ${k.keyId}`).join('\n'));
  },
};

const repoInit: Command = {
  name: 'ota repo',
  usage: 'pathbox ota repo init --keys KEYDIR --repo REPODIR [--root-threshold N]',
  summary: 'vendor: a new TUF repository (root, targets, snapshot, timestamp; thresholds, expiries)',
  async run(argv) {
    if (argv[0] !== 'init') throw new UsageError('the only repo sub-command is "init"');
    const args = parse(argv.slice(1), { keys: { type: 'string' }, repo: { type: 'string' }, 'root-threshold': { type: 'string' }, ...json });
    const keys = await loadKeys(requiredString(args, 'keys'));
    const threshold = args.values['root-threshold'] === undefined ? undefined : integer(args, 'root-threshold', undefined, 1, 16);
    const repo = await Repository.init(requiredString(args, 'repo'), keys, { rootThreshold: threshold });
    const root = repo.root.signed;
    output(args.values.json === true, { repo: repo.dir, rootThreshold: root.roles.root.threshold, rootKeys: root.roles.root.keyIDs.length },
      () => `repository ${repo.dir}: root ${root.roles.root.threshold}-of-${root.roles.root.keyIDs.length}; publish with pathbox ota publish`);
  },
};

const addModel: Command = {
  name: 'ota add-model',
  usage: 'pathbox ota add-model MODELDIR --repo REPODIR --keys KEYDIR --release-counter N [--arch x64,arm64] [--min-daemon VERSION]',
  summary: 'vendor: sign a model bundle directory as a release (checked like a box checks it first)',
  async run(argv) {
    const args = parse(argv, { repo: { type: 'string' }, keys: { type: 'string' }, 'release-counter': { type: 'string' }, arch: { type: 'string' }, 'min-daemon': { type: 'string' }, ...json });
    const modelDir = args.positionals[0];
    if (!modelDir) throw new UsageError('MODELDIR is required');
    const repo = await Repository.open(requiredString(args, 'repo'));
    const release = await repo.addModel(path.resolve(modelDir), await loadKeys(requiredString(args, 'keys')), {
      releaseCounter: integer(args, 'release-counter', undefined, 0),
      arch: typeof args.values.arch === 'string' ? args.values.arch.split(',').map((a) => a.trim()) : undefined,
      minDaemonVersion: args.values['min-daemon'] as string | undefined,
    });
    output(args.values.json === true, release, () => `${release.modelId} ${release.version} (release ${release.releaseCounter}) signed in ${release.role}`);
  },
};

const sign: Command = {
  name: 'ota sign',
  usage: 'pathbox ota sign --repo REPODIR --keys KEYDIR [--role ROLE]...',
  summary: 'vendor: re-sign roles (default timestamp and snapshot: new versions and expiries); root: add signatures',
  async run(argv) {
    const args = parse(argv, { repo: { type: 'string' }, keys: { type: 'string' }, role: { type: 'string', multiple: true }, ...json });
    const repo = await Repository.open(requiredString(args, 'repo'));
    const roles = list(args.values.role);
    repo.resign(roles.length ? roles : ['snapshot', 'timestamp'], await loadKeys(requiredString(args, 'keys')));
    await repo.save();
    const status = repositoryStatus(repo);
    output(args.values.json === true, status, () => status.roles.map((r) => `${r.role} v${r.version} expires ${r.expires}`).join('\n'));
  },
};

const rotate: Command = {
  name: 'ota rotate',
  usage: 'pathbox ota rotate --repo REPODIR --keys KEYDIR --role ROLE [--add KEYNAME]... [--remove KEYNAME]... [--threshold N]',
  summary: 'vendor: change a top-level role\'s keys or threshold in a new root version',
  async run(argv) {
    const args = parse(argv, { repo: { type: 'string' }, keys: { type: 'string' }, role: { type: 'string' }, add: { type: 'string', multiple: true }, remove: { type: 'string', multiple: true }, threshold: { type: 'string' }, ...json });
    const role = requiredString(args, 'role');
    if (!['root', 'targets', 'snapshot', 'timestamp'].includes(role)) throw new UsageError('--role must be root, targets, snapshot or timestamp');
    const keys = await loadKeys(requiredString(args, 'keys'));
    const named = (name: string) => {
      const key = keys.get(name);
      if (!key) throw new UsageError(`no key "${name}" in ${args.values.keys}`);
      return key;
    };
    const repo = await Repository.open(requiredString(args, 'repo'));
    const root = repo.rotateKeys(role as TopRole, keys, {
      add: list(args.values.add).map(named), remove: list(args.values.remove).map((n) => named(n).keyId),
      threshold: args.values.threshold === undefined ? undefined : integer(args, 'threshold', undefined, 1, 16),
    });
    await repo.save();
    output(args.values.json === true, { rootVersion: root.signed.version }, () => `root v${root.signed.version} written; publish when it has enough signatures (pathbox ota sign --role root)`);
  },
};

const publish: Command = {
  name: 'ota publish',
  usage: 'pathbox ota publish --repo REPODIR --out DIR',
  summary: 'vendor: write the static directory an HTTPS server serves, plus the retained MQTT announcement',
  async run(argv) {
    const args = parse(argv, { repo: { type: 'string' }, out: { type: 'string' }, ...json });
    const summary = await publishRepository(await Repository.open(requiredString(args, 'repo')), requiredString(args, 'out'));
    output(args.values.json === true, summary, () => `published to ${summary.out}: timestamp v${summary.timestampVersion}, ${summary.targetFiles} new target file(s); announcement.json is the retained message for pathbox/v1/fleet/ota`);
  },
};

const exportUsbCommand: Command = {
  name: 'ota export-usb',
  usage: 'pathbox ota export-usb --repo REPODIR --out DIR',
  summary: 'vendor: an offline update bundle (metadata + targets) for pathbox ota install',
  async run(argv) {
    const args = parse(argv, { repo: { type: 'string' }, out: { type: 'string' }, ...json });
    const summary = await exportUsb(await Repository.open(requiredString(args, 'repo')), requiredString(args, 'out'));
    output(args.values.json === true, summary, () => `offline bundle written to ${summary.out}`);
  },
};

const status: Command = {
  name: 'ota status',
  usage: 'pathbox ota status (--repo REPODIR | --data-dir DIR) [--json]',
  summary: 'vendor: role versions, expiries (warns below half the period) and live releases; box: trusted metadata and update history',
  async run(argv) {
    const args = parse(argv, { repo: { type: 'string' }, 'data-dir': { type: 'string' }, ...json });
    if (typeof args.values.repo === 'string') {
      const s = repositoryStatus(await Repository.open(args.values.repo));
      output(args.values.json === true, s, () => [
        ...s.roles.map((r) => `${r.role.padEnd(20)} v${r.version}  expires ${r.expires}${r.warning ? `  WARNING: ${r.warning}` : ''}`),
        ...s.releases.map((r) => `release ${r.id} ${r.version} (counter ${r.releaseCounter}, ${r.arch.join('/')})`),
      ].join('\n'));
      return;
    }
    const dataDir = path.resolve(requiredString(args, 'data-dir'));
    const otaDir = path.join(dataDir, 'ota');
    const marks = await new HighWaterMarkStore(otaDir).read();
    const trustedDir = await new TrustedMetadata({ dir: otaDir, limits: DEFAULT_OTA_SETTINGS.limits }).liveDir();
    const store = Store.open(dataPaths(dataDir).database, { readonly: true });
    try {
      const jobs = new OtaStore(store).recentJobs(10);
      output(args.values.json === true, { trustedDir, highWaterMarks: marks, jobs }, () => [
        `trusted metadata: ${trustedDir ?? 'none'}${marks ? ` (root v${marks.root}, timestamp v${marks.roles.timestamp?.version ?? '-'})` : ''}`,
        ...jobs.map((j) => `job ${j.id} ${j.state}${j.reason ? ` ${j.reason}` : ''} ${j.modelId ? `${j.modelId} ${j.version}` : ''} ${j.detail ?? ''}`),
      ].join('\n'));
    } finally {
      store.close();
    }
  },
};

/** Whether a daemon is running on this data folder (fresh heartbeat from a live process). */
function daemonRunning(dataDir: string): boolean {
  try {
    const beat = JSON.parse(readFileSync(dataPaths(dataDir).heartbeat, 'utf8')) as { pid: number; at: string };
    if (Date.now() - Date.parse(beat.at) > 15_000) return false;
    process.kill(beat.pid, 0);
    return true;
  } catch {
    return false;
  }
}

const install: Command = {
  name: 'ota install',
  usage: 'pathbox ota install PATH|URL --data-dir DIR [--root ROOT.json] [--json]',
  summary: 'box: install the newest release for this box from a USB bundle or a repository (verified with TUF)',
  async run(argv) {
    const args = parse(argv, { 'data-dir': { type: 'string' }, root: { type: 'string' }, 'device-id': { type: 'string' }, ...json });
    const location = args.positionals[0];
    if (!location) throw new UsageError('PATH (an exported bundle folder) or a repository URL is required');
    const dataDir = path.resolve(requiredString(args, 'data-dir'));
    if (typeof args.values.root === 'string' && !existsSync(args.values.root)) throw new UsageError(`--root ${args.values.root} does not exist`);
    await mkdir(dataDir, { recursive: true });
    const store = Store.open(dataPaths(dataDir).database);
    try {
      const configured = args.values['device-id'] as string | undefined;
      const installer = new OtaInstaller({
        dataDir, store, registry: new ModelRegistry(dataPaths(dataDir).models),
        deviceId: await deviceId({ configured }).catch(() => 'unidentified'),
        settings: { ...DEFAULT_OTA_SETTINGS, factoryRoot: typeof args.values.root === 'string' ? path.resolve(args.values.root) : undefined },
        activation: daemonRunning(dataDir) ? 'hand-off' : undefined,
      });
      const outcome = await installer.run({ source: await repositorySource(location), trigger: 'cli' });
      output(args.values.json === true, outcome, () => `${outcome?.state}${outcome?.reason ? ` ${outcome.reason}` : ''}: ${outcome?.detail ?? ''}`);
      if (outcome && ['FAILED', 'REJECTED', 'ROLLED_BACK'].includes(outcome.state)) throw new Error(`update ${outcome.state}${outcome.reason ? ` (${outcome.reason})` : ''}`);
    } finally {
      store.close();
    }
  },
};

export const otaCommands: Command[] = [keygen, repoInit, addModel, sign, rotate, publish, exportUsbCommand, status, install];
