import { existsSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Daemon, dataPaths } from '../daemon/daemon.ts';
import { DEFAULT_CONFIG_FILE, demoConfig, loadConfig, type Config, type ConfigOverrides } from '../daemon/config.ts';
import { createLogger } from '../daemon/logger.ts';
import { readStatus } from '../daemon/status.ts';
import { describeSyncStatus } from '../sync/index.ts';
import { Store } from '../store/index.ts';
import { writeSyntheticSlide } from '../slide/synthetic/index.ts';
import { ensureDemoLogin } from '../web/index.ts';
import { integer, output, parse, requiredString, UsageError, type ParsedArgs } from './args.ts';
import type { Command } from './command.ts';

/** Time beyond the drain period for closing the web server, sync and database. */
const STOP_GRACE_MS = 15_000;

const daemonFlags = {
  config: { type: 'string' }, 'data-dir': { type: 'string' }, inbox: { type: 'string', multiple: true },
  'http-port': { type: 'string' }, 'mqtt-url': { type: 'string' }, 'device-id': { type: 'string' }, demo: { type: 'boolean' },
} as const;

function overridesFrom(args: ParsedArgs): ConfigOverrides {
  return {
    dataDir: args.values['data-dir'] as string | undefined,
    inboxes: args.values.inbox as string[] | undefined,
    httpPort: args.values['http-port'] === undefined ? undefined : integer(args, 'http-port', undefined, 1, 65535),
    mqttUrl: args.values['mqtt-url'] as string | undefined,
    deviceId: args.values['device-id'] as string | undefined,
  };
}

function configFrom(args: ParsedArgs): Config {
  if (args.values.demo) {
    const config = demoConfig(process.cwd(), overridesFrom(args));
    config.http.host = '127.0.0.1';
    if (args.values['http-port'] === undefined) config.http.port = 8080;
    config.ingest.settleSeconds = 1;
    config.ingest.pollSeconds = 1;
    config.disk.pauseBelowMB = Math.min(config.disk.pauseBelowMB, 256);
    config.disk.resumeAboveMB = Math.max(config.disk.pauseBelowMB, Math.min(config.disk.resumeAboveMB, 512));
    return config;
  }
  const file = (args.values.config as string | undefined) ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null);
  return loadConfig(file, overridesFrom(args));
}

/** The demo's first minute: a synthetic slide (fake patient on its label) is waiting in the inbox. */
async function seedDemoSlide(config: Config): Promise<string | null> {
  const inbox = config.inboxes[0];
  const known = existsSync(dataPaths(config.dataDir).database);
  if (known || (existsSync(inbox) && readdirSync(inbox).length > 0)) return null;
  const file = path.join(inbox, 'demo-S26-04711.svs');
  await mkdir(inbox, { recursive: true });
  await writeSyntheticSlide(file, { width: 12000, height: 9000, seed: 1, mpp: 0.25 });
  return file;
}

const daemon: Command = {
  name: 'daemon',
  usage: 'pathbox daemon [--config FILE] [--data-dir DIR] [--inbox DIR]... [--http-port N] [--mqtt-url URL] [--device-id ID] [--demo]',
  summary: 'run the box: watch the scanner folders, analyse every slide, serve the dashboard',
  async run(argv) {
    const args = parse(argv, daemonFlags);
    const config = configFrom(args);
    const logger = createLogger(config.log.level);
    if (args.values.demo) {
      const seeded = await seedDemoSlide(config);
      if (seeded) logger.info({ file: seeded }, 'demo: synthetic slide placed in the inbox');
    }
    const box = await Daemon.start(config, logger);
    const stop = async (signal: string) => {
      logger.info({ signal }, 'stopping');
      // A stop that hangs would leave systemd to SIGKILL us anyway; exit on our own terms first.
      setTimeout(() => {
        logger.error('graceful stop took too long; exiting');
        process.exit(1);
      }, config.analysis.drainSeconds * 1000 + STOP_GRACE_MS).unref();
      await box.stop();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
    process.on('SIGHUP', () => {
      try {
        box.reload(configFrom(args));
      } catch (e) {
        logger.error({ err: e }, 'configuration not reloaded');
      }
    });
    if (args.values.demo) {
      const login = await ensureDemoLogin(box.store);
      process.stderr.write(`\npathbox demo running: data in ${config.dataDir}, drop slides into ${config.inboxes[0]}\n` +
        `dashboard: ${box.dashboardUrl}\n` +
        (login ? `log in as: ${login.username}  password: ${login.password}  (new password at every demo start)\n` : 'log in with your pathologist account\n') +
        `status: bin/pathbox status --data-dir ${config.dataDir}\nstop with Ctrl-C\n\n`);
    }
    await new Promise(() => {}); // runs until a signal stops it
  },
};

/** Opens a data folder's database for the CLI, with a message a technician can act on when there is none. */
export function openStore(args: ParsedArgs, options: { readonly?: boolean } = {}): Store {
  const dataDir = dataDirOf(args);
  const file = dataPaths(dataDir).database;
  if (!existsSync(file)) throw new Error(`no pathbox database in ${dataDir} (has the daemon run with --data-dir ${dataDir}?)`);
  return Store.open(file, options);
}

export function dataDirOf(args: ParsedArgs): string {
  if (typeof args.values['data-dir'] === 'string') return path.resolve(args.values['data-dir']);
  const file = (args.values.config as string | undefined) ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null);
  return file ? loadConfig(file).dataDir : path.resolve('var');
}

const dataDirFlags = { 'data-dir': { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } } as const;

const status: Command = {
  name: 'status',
  usage: 'pathbox status [--data-dir DIR] [--config FILE] [--json]',
  summary: 'slides per state, the running job, the active model, disk, recent errors (daemon running or not)',
  async run(argv) {
    const args = parse(argv, dataDirFlags);
    const s = await readStatus(dataDirOf(args));
    output(args.values.json === true, s, () => [
      `daemon: ${s.daemon.running ? `running (pid ${s.daemon.pid}, since ${s.daemon.startedAt})` : 'not running'}`,
      `slides: ${Object.entries(s.slides).map(([k, v]) => `${v} ${k}`).join(', ')}`,
      ...s.running.map((r) => `  analysing slide ${r.slideId}: ${r.progress.done}/${r.progress.total} tiles`),
      `model: ${s.models.map((m) => `${m.id} ${m.version} (${m.variant} on ${m.executionProvider})`).join(', ') || 'unknown (daemon not running)'}`,
      `disk: ${(s.disk.freeBytes / 2 ** 30).toFixed(1)} GiB free of ${(s.disk.totalBytes / 2 ** 30).toFixed(1)} GiB${s.disk.paused ? ` — ${s.disk.reason}` : ''}`,
      ...s.inboxes.filter((i) => i.error).map((i) => `inbox ${i.path}: ${i.error}`),
      `outbox: ${s.outbox.depth} message(s) waiting`,
      ...describeSyncStatus(s.sync),
      ...(s.errors.length ? ['recent problems:', ...s.errors.map((e) => `  ${e.at} ${e.kind} ${e.subject ?? ''} ${e.message}`)] : []),
    ].join('\n'));
  },
};

const slidesList: Command = {
  name: 'slides list',
  usage: 'pathbox slides list [--data-dir DIR] [--state STATE] [--json]',
  summary: 'the slides the box knows, newest first',
  async run(argv) {
    const args = parse(argv, { ...dataDirFlags, state: { type: 'string' } });
    const state = args.values.state as string | undefined;
    if (state && !['queued', 'running', 'done', 'failed', 'rejected'].includes(state)) throw new UsageError('--state must be queued, running, done, failed or rejected');
    const store = openStore(args, { readonly: true });
    try {
      const slides = store.listSlides({ state: state as 'queued' | undefined }).map((s) => ({ ...s, finding: store.latestResult(s.id)?.findingLabel ?? null, score: store.latestResult(s.id)?.findingScore ?? null }));
      output(args.values.json === true, { slides }, () => slides.map((s) =>
        `${String(s.id).padStart(5)}  ${s.state.padEnd(8)}  ${path.basename(s.path)}  ${s.finding ? `${s.finding} (${s.score})` : s.error ?? ''}`).join('\n') || 'no slides');
    } finally {
      store.close();
    }
  },
};

const slidesRetry: Command = {
  name: 'slides retry',
  usage: 'pathbox slides retry ID [--data-dir DIR]',
  summary: 'queue a failed slide again',
  async run(argv) {
    const args = parse(argv, dataDirFlags);
    const id = Number(args.positionals[0]);
    if (!Number.isInteger(id) || id < 1) throw new UsageError('ID must be a slide id (see pathbox slides list)');
    const store = openStore(args);
    try {
      const job = store.retrySlide(id, process.env.SUDO_USER ?? process.env.USER ?? 'cli');
      output(args.values.json === true, { slideId: id, jobId: job.id, state: job.state }, () => `slide ${id} queued again (job ${job.id})`);
    } finally {
      store.close();
    }
  },
};

const dbBackup: Command = {
  name: 'db backup',
  usage: 'pathbox db backup FILE [--data-dir DIR]',
  summary: 'an online, consistent copy of the database (safe while the daemon runs)',
  async run(argv) {
    const args = parse(argv, { ...dataDirFlags, out: { type: 'string' } });
    const destination = args.positionals[0] ?? requiredString(args, 'out');
    const store = openStore(args);
    try {
      await store.backup(destination);
      output(args.values.json === true, { backup: path.resolve(destination) }, () => `backup written to ${destination}`);
    } finally {
      store.close();
    }
  },
};

export const daemonCommands: Command[] = [daemon, status, slidesList, slidesRetry, dbBackup];
