/**
 * OpenSlide (Debian's python3-openslide, OpenSlide 3.4.1) as an independent referee for slide tests.
 * Tests skip with a clear message when it is missing, and fail instead when PATHBOX_REQUIRE_FIXTURES=1 or
 * CI=true, so CI cannot pass by silently skipping. Install: apt-get install -y python3-openslide.
 */
import { spawnSync } from 'node:child_process';
import { requireExternal } from './fixtures.ts';

/** Debian's python first: a pyenv/venv python3 on PATH usually cannot see Debian's dist-packages. */
const PYTHON_CANDIDATES = ['/usr/bin/python3', 'python3'];

let cachedPython: string | null | undefined;

export function openSlidePython(): string | null {
  if (cachedPython === undefined) {
    cachedPython =
      PYTHON_CANDIDATES.find((python) => spawnSync(python, ['-c', 'import openslide'], { stdio: 'ignore' }).status === 0) ?? null;
  }
  return cachedPython;
}

/** For `test(name, { skip: skipUnlessOpenSlide() }, ...)`. */
export function skipUnlessOpenSlide(): false | string {
  if (openSlidePython()) return false;
  const message = 'python3-openslide is not installed (apt-get install -y python3-openslide)';
  if (requireExternal()) throw new Error(`${message}; required because PATHBOX_REQUIRE_FIXTURES=1 or CI=true`);
  return message;
}

/** A region to average: level, level-0 x and y (OpenSlide's read_region convention), size at that level. */
export type RegionRequest = [level: number, x: number, y: number, width: number, height: number];

export interface OpenSlideReport {
  vendor: string | null;
  dimensions: [number, number];
  levelDimensions: [number, number][];
  levelDownsamples: number[];
  properties: Record<string, string>;
  /** Associated image name -> [width, height] (each one decoded to get it). */
  associated: Record<string, [number, number]>;
  /** Mean [R, G, B] of each requested region, in request order. */
  regionMeans: [number, number, number][];
}

const REPORT_SCRIPT = `
import json, sys
import openslide
from PIL import ImageStat
reports = []
for item in json.load(sys.stdin):
    slide = openslide.OpenSlide(item['path'])
    means = []
    for level, x, y, w, h in item['regions']:
        means.append(ImageStat.Stat(slide.read_region((x, y), level, (w, h)).convert('RGB')).mean)
    reports.append({
        'vendor': openslide.OpenSlide.detect_format(item['path']),
        'dimensions': list(slide.dimensions),
        'levelDimensions': [list(d) for d in slide.level_dimensions],
        'levelDownsamples': list(slide.level_downsamples),
        'properties': dict(slide.properties),
        'associated': {name: list(image.size) for name, image in slide.associated_images.items()},
        'regionMeans': means,
    })
    slide.close()
json.dump(reports, sys.stdout)
`;

/** Opens each slide with OpenSlide and reports what it sees. Throws with Python's stderr on failure. */
export function openSlideReports(items: { path: string; regions: RegionRequest[] }[]): OpenSlideReport[] {
  const python = openSlidePython();
  if (!python) throw new Error('python3-openslide is not installed');
  const run = spawnSync(python, ['-c', REPORT_SCRIPT], { input: JSON.stringify(items), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`OpenSlide report failed (exit ${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as OpenSlideReport[];
}
