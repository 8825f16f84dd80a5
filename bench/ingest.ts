/**
 * npm run bench:ingest — time from a complete slide file landing in the inbox to its result being stored,
 * through the real daemon (a child process) with the default settle time; CMU-1-Small-Region.svs.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Store } from '../src/store/index.ts';
import { fixturesDir, progress, projectRoot } from './support.ts';

const SETTLE_SECONDS = Number(process.env.PATHBOX_SETTLE_SECONDS ?? 10);
const slide = path.join(fixturesDir, 'slides', 'CMU-1-Small-Region.svs');
const dir = mkdtempSync(path.join(tmpdir(), 'pathbox-bench-ingest-'));
const inbox = path.join(dir, 'inbox');
mkdirSync(inbox);
writeFileSync(path.join(dir, 'pathbox.yaml'), JSON.stringify({ dataDir: path.join(dir, 'data'), inboxes: [inbox], ingest: { settleSeconds: SETTLE_SECONDS, pollSeconds: 2 }, http: { host: '127.0.0.1', port: 0 } }));
const daemon = spawn(process.execPath, [path.join(projectRoot, 'src/cli/main.ts'), 'daemon', '--config', path.join(dir, 'pathbox.yaml')], { stdio: 'ignore' });
const database = path.join(dir, 'data', 'pathbox.db');
const until = async (check: () => boolean) => {
  for (;;) {
    try {
      if (check()) return;
    } catch {
      // not created yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
};
await until(() => Store.open(database, { readonly: true }).close() === undefined);
await new Promise((r) => setTimeout(r, 1000));
progress(`dropping CMU-1-Small-Region.svs into the inbox (settle time ${SETTLE_SECONDS} s) ...`);
copyFileSync(slide, path.join(inbox, '.incoming.part'));
const landed = performance.now();
renameSync(path.join(inbox, '.incoming.part'), path.join(inbox, 'CMU-1.svs'));
let queuedAt = 0;
await until(() => {
  const store = Store.open(database, { readonly: true });
  try {
    if (!queuedAt && store.listSlides().length > 0) queuedAt = performance.now();
    return store.countSlidesByState().done === 1;
  } finally {
    store.close();
  }
});
const total = (performance.now() - landed) / 1000;
daemon.kill('SIGTERM');
console.log(`bench:ingest — CMU-1-Small-Region.svs: complete file to result ${total.toFixed(1)} s (settle ${SETTLE_SECONDS} s, poll 2 s; recorded after ${((queuedAt - landed) / 1000).toFixed(1)} s, analysis ${(total - (queuedAt - landed) / 1000).toFixed(1)} s)`);
