/** Runs the real daemon as a child process on a temporary data folder, for integration tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, renameSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { Store } from '../../src/store/index.ts';
import { projectRoot } from './fixtures.ts';
import { waitUntil } from './wait.ts';

export interface DaemonHarness {
  dir: string;
  dataDir: string;
  inbox: string;
  configFile: string;
  start(extraArgs?: string[]): ChildProcess;
  /** Sends a signal and waits for the daemon to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Sends a signal without waiting (SIGHUP). */
  signal(signal: NodeJS.Signals): void;
  /** Reads the store (read-only, as `pathbox status` does) while the daemon runs. */
  withStore<T>(read: (store: Store) => T): T;
  waitFor(what: string, predicate: () => boolean, timeoutMs: number): Promise<void>;
  /** Puts a file into the inbox the way scanners do: written under a temporary name, then renamed. */
  drop(source: string, name: string): string;
  output: string[];
}

export function daemonHarness(config: Record<string, unknown> = {}): DaemonHarness {
  const dir = mkdtempSync(path.join(tmpdir(), 'pathbox-daemon-'));
  const dataDir = path.join(dir, 'data');
  const inbox = path.join(dir, 'inbox');
  mkdirSync(inbox, { recursive: true });
  const configFile = path.join(dir, 'pathbox.yaml');
  writeFileSync(configFile, YAML.stringify({
    dataDir,
    inboxes: [inbox],
    ingest: { settleSeconds: 0.5, pollSeconds: 0.2 },
    disk: { pauseBelowMB: 1, resumeAboveMB: 1 },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    ...config,
  }));
  let child: ChildProcess | null = null;
  const output: string[] = [];
  const harness: DaemonHarness = {
    dir, dataDir, inbox, configFile, output,
    start(extraArgs = []) {
      child = spawn(process.execPath, [path.join(projectRoot, 'src/cli/main.ts'), 'daemon', '--config', configFile, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
      child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
      return child;
    },
    async kill(signal = 'SIGKILL') {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill(signal);
      const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
      if (signal !== 'SIGKILL' && c.signalCode === 'SIGKILL') throw new Error(`the daemon did not exit within 60 s of ${signal}`);
    },
    withStore(read) {
      const store = Store.open(path.join(dataDir, 'pathbox.db'), { readonly: true });
      try {
        return read(store);
      } finally {
        store.close();
      }
    },
    signal(signal) {
      child?.kill(signal);
    },
    waitFor(what, predicate, timeoutMs) {
      return waitUntil(what, predicate, timeoutMs, { context: () => `daemon output:\n${output.join('').slice(-4000)}` });
    },
    drop(source, name) {
      const temporary = path.join(inbox, `.${name}.part`);
      copyFileSync(source, temporary);
      const target = path.join(inbox, name);
      renameSync(temporary, target);
      return target;
    },
  };
  return harness;
}
