/** systemd/pathbox.service must verify and keep systemd-analyze's exposure score below 2.0 ("OK"). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { projectRoot, requireExternal } from '../helpers/fixtures.ts';

const analyze = '/usr/bin/systemd-analyze';
const skip = existsSync(analyze) ? false : requireExternal() ? false : 'systemd-analyze is not installed (apt-get install systemd)';

/** The unit with ExecStart pointed at a binary that exists here (verify checks it), nothing else changed. */
function unitForAnalysis(): string {
  const unit = readFileSync(path.join(projectRoot, 'systemd', 'pathbox.service'), 'utf8');
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'pathbox-unit-')), 'pathbox.service');
  writeFileSync(file, unit.replace(/^ExecStart=\S+/m, 'ExecStart=/bin/true'));
  return file;
}

test('the unit file verifies', { skip }, () => {
  const run = spawnSync(analyze, ['verify', unitForAnalysis()], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr.trim(), '', `warnings: ${run.stderr}`);
});

test('the unit is hardened: exposure below 2.0, with the promised settings', { skip }, (t) => {
  const unit = readFileSync(path.join(projectRoot, 'systemd', 'pathbox.service'), 'utf8');
  for (const setting of ['Type=notify', 'WatchdogSec=', 'Restart=on-failure', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ReadWritePaths=', 'PrivateTmp=yes', 'CapabilityBoundingSet=\n', 'MemoryMax=', 'User=pathbox']) {
    assert.ok(unit.includes(setting), `missing ${setting.trim()}`);
  }
  const run = spawnSync(analyze, ['security', '--offline=true', unitForAnalysis()], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const match = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(run.stdout);
  assert.ok(match, run.stdout.slice(-500));
  t.diagnostic(`systemd-analyze security: ${match[1]} ${match[2]}`);
  assert.ok(Number(match[1]) < 2.0, `exposure ${match[1]}`);
  assert.equal(match[2], 'OK');
});
