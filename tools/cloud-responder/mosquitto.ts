/**
 * A throw-away cloud broker for tests, benchmarks and the demo: Debian's Mosquitto on a free loopback
 * port, TLS with client certificates from a CA made on the spot with the openssl command, an ACL that
 * confines each box to its own topics (the certificate's common name is the device id), and
 * persistence, so a restart keeps the cloud's queued messages as a real broker would.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MOSQUITTO_PATHS = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto'];
const CERT_DAYS = '2';
/** The identity the cloud side connects with (allowed everywhere under pathbox/). */
export const CLOUD_IDENTITY = 'cloud';
const CLIENT_EXTENSIONS = 'extendedKeyUsage=clientAuth\n';

export function mosquittoBinary(): string | null {
  return MOSQUITTO_PATHS.find((p) => existsSync(p)) ?? null;
}

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** A CA, the broker's certificate (for 127.0.0.1 and localhost) and signing of client requests. */
export class TestPki {
  readonly dir: string;
  readonly caCert: string;
  private readonly caKey: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.caCert = path.join(dir, 'ca.crt');
    this.caKey = path.join(dir, 'ca.key');
  }

  static async create(dir: string): Promise<TestPki> {
    await mkdir(dir, { recursive: true });
    const pki = new TestPki(dir);
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', pki.caKey, '-out', pki.caCert,
      '-days', CERT_DAYS, '-subj', '/O=pathbox test/CN=pathbox test CA']);
    await pki.issue('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    return pki;
  }

  /** Key and certificate for a client whose common name is `name` (a device id, or CLOUD_IDENTITY). */
  async client(name: string): Promise<TlsFiles> {
    const files = await this.issue(name, CLIENT_EXTENSIONS);
    return { ca: this.caCert, ...files };
  }

  /** Signs a certificate signing request made elsewhere (`pathbox device provision`). */
  async sign(csr: string, certOut: string, extensions = CLIENT_EXTENSIONS): Promise<string> {
    const ext = `${certOut}.ext`;
    await writeFile(ext, extensions);
    await openssl(['x509', '-req', '-in', csr, '-CA', this.caCert, '-CAkey', this.caKey, '-CAcreateserial', '-out', certOut, '-days', CERT_DAYS, '-extfile', ext]);
    return certOut;
  }

  serverFiles(): TlsFiles {
    return { ca: this.caCert, cert: path.join(this.dir, 'server.crt'), key: path.join(this.dir, 'server.key') };
  }

  private async issue(name: string, extensions: string): Promise<{ cert: string; key: string }> {
    const key = path.join(this.dir, `${name}.key`);
    const csr = path.join(this.dir, `${name}.csr`);
    const cert = path.join(this.dir, `${name}.crt`);
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/O=pathbox test/CN=${name}`]);
    await this.sign(csr, cert, extensions);
    return { cert, key };
  }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (e) {
    throw new Error(`openssl ${args[0]} failed: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
  }
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const ACL = `# the cloud reads and answers everything under pathbox/
user ${CLOUD_IDENTITY}
topic readwrite pathbox/#

# a box (its certificate's CN is its device id) writes only its own topics and reads only its answers
pattern write pathbox/v1/%u/status
pattern write pathbox/v1/%u/telemetry
pattern write pathbox/v1/%u/results
pattern write pathbox/v1/%u/events
pattern write pathbox/v1/%u/second-opinion/request
pattern write pathbox/v1/%u/ota/status
pattern read pathbox/v1/%u/second-opinion/response
pattern read pathbox/v1/%u/results/ack
pattern read pathbox/v1/%u/ota/command
# every box reads the fleet's update announcement (a nudge; trust comes from the signed metadata)
pattern read pathbox/v1/fleet/ota
`;

/** One Mosquitto process; stop() and start() again keep the port, the certificates and the persisted state. */
export class Mosquitto {
  readonly dir: string;
  readonly port: number;
  readonly pki: TestPki;
  private process: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(dir: string, port: number, pki: TestPki) {
    this.dir = dir;
    this.port = port;
    this.pki = pki;
  }

  /** Writes the configuration and starts the broker; throws when Mosquitto is not installed. */
  static async start(dir: string, pki?: TestPki): Promise<Mosquitto> {
    await mkdir(dir, { recursive: true });
    const broker = new Mosquitto(dir, await freeLoopbackPort(), pki ?? (await TestPki.create(path.join(dir, 'pki'))));
    await broker.writeConfig();
    await broker.start();
    return broker;
  }

  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  get logFile(): string {
    return path.join(this.dir, 'mosquitto.log');
  }

  private async writeConfig(): Promise<void> {
    const server = this.pki.serverFiles();
    await writeFile(path.join(this.dir, 'acl'), ACL);
    await mkdir(path.join(this.dir, 'data'), { recursive: true });
    await writeFile(path.join(this.dir, 'mosquitto.conf'), [
      // Mosquitto started as root drops to the "mosquitto" user, which cannot read a private temp folder.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'persistence true',
      `persistence_location ${path.join(this.dir, 'data')}/`,
      `log_dest file ${this.logFile}`,
      'log_type error', 'log_type warning', 'log_type notice', 'log_type information',
      'connection_messages true',
      'max_queued_messages 100000',
      `acl_file ${path.join(this.dir, 'acl')}`,
      `listener ${this.port} 127.0.0.1`,
      `cafile ${server.ca}`, `certfile ${server.cert}`, `keyfile ${server.key}`,
      'require_certificate true',
      'use_identity_as_username true',
      '',
    ].join('\n'));
  }

  async start(): Promise<void> {
    const binary = mosquittoBinary();
    if (!binary) throw new Error('mosquitto is not installed (apt-get install -y mosquitto)');
    const child = spawn(binary, ['-c', path.join(this.dir, 'mosquitto.conf')], { stdio: 'ignore' });
    this.process = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const log = await readFile(this.logFile, 'utf8').catch(() => '');
        throw new Error(`mosquitto did not start on port ${this.port} (exit ${child.exitCode}):\n${log.split('\n').slice(-15).join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** A clean stop (SIGTERM: the broker saves its state), or a crash (SIGKILL). */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    child.kill(signal);
    await this.exited;
    this.process = null;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
