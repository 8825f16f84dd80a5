/**
 * The whole loop for sync tests: a real Mosquitto (TLS, client certificates, ACL) started here, the
 * cloud responder, and the daemon as a real child process (bin/pathbox daemon) whose identity comes
 * from `pathbox device provision`, signed by the test CA.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { Store } from '../../src/store/index.ts';
import { writeSyntheticSlide, type SyntheticSlideOptions } from '../../src/slide/synthetic/index.ts';
import { CLOUD_IDENTITY, Mosquitto, mosquittoBinary, type TlsFiles } from '../../tools/cloud-responder/mosquitto.ts';
import { CloudResponder, type ResponderOptions } from '../../tools/cloud-responder/responder.ts';
import { projectRoot, requireExternal } from '../helpers/fixtures.ts';
import { waitUntil } from '../helpers/wait.ts';

const run = promisify(execFile);
export const PATHBOX = path.join(projectRoot, 'bin', 'pathbox');

/** For `test(name, { skip: skipUnlessMosquitto() }, ...)`; fails instead of skipping in CI. */
export function skipUnlessMosquitto(): false | string {
  if (mosquittoBinary()) return false;
  const message = 'mosquitto is not installed (apt-get install -y mosquitto): the MQTT tests need a real broker';
  if (requireExternal()) throw new Error(`${message}; required because PATHBOX_REQUIRE_FIXTURES=1 or CI=true`);
  return message;
}

export function tempDir(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `pathbox-${name}-`));
}

export interface Cloud {
  broker: Mosquitto;
  responder: CloudResponder;
  cloudTls: TlsFiles;
}

export async function startCloud(dir: string, options: Partial<ResponderOptions> = {}): Promise<Cloud> {
  const broker = await Mosquitto.start(path.join(dir, 'broker'));
  const cloudTls = await broker.pki.client(CLOUD_IDENTITY);
  const responder = new CloudResponder({ url: broker.url, tls: cloudTls, ...options });
  await responder.start();
  return { broker, responder, cloudTls };
}

/** `pathbox device provision`, then the test CA signs the request, as the vendor would. */
export async function provisionBox(cloud: Cloud, dir: string, deviceId: string): Promise<TlsFiles> {
  const identityDir = path.join(dir, 'identity');
  await pathbox(['device', 'provision', '--device-id', deviceId, '--out', identityDir, '--data-dir', path.join(dir, 'data')]);
  const cert = await cloud.broker.pki.sign(path.join(identityDir, 'device.csr'), path.join(identityDir, 'device.crt'));
  return { ca: cloud.broker.pki.caCert, cert, key: path.join(identityDir, 'device.key') };
}

export async function pathbox(args: string[]): Promise<string> {
  try {
    return (await run(PATHBOX, args, { cwd: projectRoot, maxBuffer: 16 << 20 })).stdout;
  } catch (e) {
    throw new Error(`pathbox ${args.join(' ')} failed: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
  }
}

export interface BoxOptions {
  dir: string;
  deviceId: string;
  tls: TlsFiles;
  brokerUrl: string;
  /** Merged into the `mqtt` section of the configuration file. */
  mqtt?: Record<string, unknown>;
}

/** The daemon as the appliance runs it: bin/pathbox daemon with a configuration file and the overrides. */
export class Box {
  readonly options: BoxOptions;
  readonly dataDir: string;
  readonly inbox: string;
  readonly configFile: string;
  readonly logFile: string;
  private child: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(options: BoxOptions) {
    this.options = options;
    this.dataDir = path.join(options.dir, 'data');
    this.inbox = path.join(options.dir, 'inbox');
    this.configFile = path.join(options.dir, 'pathbox.yaml');
    this.logFile = path.join(options.dir, 'daemon.log');
  }

  async start(): Promise<void> {
    await mkdir(this.inbox, { recursive: true });
    const { tls } = this.options;
    await writeFile(this.configFile, YAML.stringify({
      ingest: { settleSeconds: 0, pollSeconds: 0.2 },
      disk: { pauseBelowMB: 0, resumeAboveMB: 0 },
      http: { host: '127.0.0.1', port: 0 },
      mqtt: { ca: tls.ca, cert: tls.cert, key: tls.key, telemetrySeconds: 5, reconnectMaxSeconds: 2, ...this.options.mqtt },
      log: { level: 'debug' },
    }));
    const child = spawn(PATHBOX, [
      'daemon', '--config', this.configFile, '--data-dir', this.dataDir, '--inbox', this.inbox,
      '--mqtt-url', this.options.brokerUrl, '--device-id', this.options.deviceId,
    ], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(this.logFile, { flags: 'a' });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** SIGTERM: the daemon drains and says goodbye; SIGKILL: it just dies. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    child.kill(signal);
    const code = await this.exited;
    this.child = null;
    return code;
  }

  /** Reads the box's database (as `pathbox status` does, beside the running daemon). */
  query<T>(read: (store: Store) => T): T {
    const store = Store.open(path.join(this.dataDir, 'pathbox.db'), { readonly: true });
    try {
      return read(store);
    } finally {
      store.close();
    }
  }

  waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
    return waitUntil(what, condition, timeoutMs, {
      intervalMs: 100,
      context: () => this.logTail(),
      failIf: () => (this.child?.exitCode !== null && this.child?.exitCode !== undefined ? `the daemon exited (${this.child.exitCode})` : null),
    });
  }

  doneCount(): number {
    return this.query((store) => store.countSlidesByState().done);
  }

  async logTail(lines = 30): Promise<string> {
    return (await readFile(this.logFile, 'utf8').catch(() => '')).split('\n').slice(-lines).join('\n');
  }
}

/** Small synthetic slides, written aside and then moved into the inbox whole (as a scanner's copy finishes). */
export async function syntheticSlides(dir: string, count: number, options: Partial<SyntheticSlideOptions> & { name?: (i: number) => string } = {}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, options.name?.(i) ?? `slide-${String(i).padStart(2, '0')}.svs`);
    await writeSyntheticSlide(file, { width: 4000, height: 3000, seed: 100 + i, ...options });
    files.push(file);
  }
  return files;
}

export async function dropIntoInbox(files: string[], inbox: string): Promise<void> {
  for (const file of files) await rename(file, path.join(inbox, path.basename(file)));
}
