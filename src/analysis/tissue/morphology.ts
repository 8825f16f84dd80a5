/**
 * Binary morphology on masks of 0/1 bytes, row-major, with square windows. Every operation reads the
 * count of set pixels in each pixel's window, which two running sums give at a cost that does not grow
 * with the radius. Windows are clipped at the image edge, so pixels outside never count: dilation does
 * not grow from the border and erosion does not eat into it.
 */

/**
 * Set pixels in the (2r+1) x (2r+1) window around each pixel (clipped at the image edge). Counts are
 * bytes when a window holds at most 255 pixels (radius <= 7, every default): half the memory traffic.
 */
function windowCounts(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array | Uint16Array {
  const rowSums = new Uint8Array(mask.length); // radius <= 127, so a row window holds <= 255 pixels
  const lead = Math.min(radius, width);
  for (let y = 0; y < height; y++) {
    const base = y * width;
    let sum = 0;
    for (let x = 0; x < lead; x++) sum += mask[base + x];
    // Three stretches so the inner loop has no edge tests: the window's right end entering, both ends
    // moving, then only the left end leaving.
    let x = 0;
    for (; x < width && x < radius; x++) {
      if (x + radius < width) sum += mask[base + x + radius];
      rowSums[base + x] = sum;
    }
    for (; x + radius < width; x++) {
      sum += mask[base + x + radius];
      rowSums[base + x] = sum;
      sum -= mask[base + x - radius];
    }
    for (; x < width; x++) {
      rowSums[base + x] = sum;
      sum -= mask[base + x - radius];
    }
  }
  const Counts = (2 * radius + 1) ** 2 <= 255 ? Uint8Array : Uint16Array;
  const counts = new Counts(mask.length);
  const column = new Counts(width);
  for (let y = 0; y < Math.min(radius, height); y++) {
    for (let x = 0; x < width; x++) column[x] += rowSums[y * width + x];
  }
  for (let y = 0; y < height; y++) {
    const base = y * width;
    if (y + radius < height) {
      const entering = (y + radius) * width;
      for (let x = 0; x < width; x++) column[x] += rowSums[entering + x];
    }
    counts.set(column, base);
    if (y >= radius) {
      const leaving = (y - radius) * width;
      for (let x = 0; x < width; x++) column[x] -= rowSums[leaving + x];
    }
  }
  return counts;
}

/**
 * Sets each pixel whose window holds at least `needed(area)` set pixels, where area is the window's
 * pixel count after clipping (only border pixels have a clipped window).
 */
function countAtLeast(mask: Uint8Array, width: number, height: number, radius: number, needed: (area: number) => number): Uint8Array {
  if (radius === 0) return mask.slice();
  const counts = windowCounts(mask, width, height, radius);
  const out = new Uint8Array(mask.length);
  const neededInside = needed((2 * radius + 1) ** 2);
  const span = (i: number, size: number): number => Math.min(i + radius, size - 1) - Math.max(i - radius, 0) + 1;
  for (let y = 0; y < height; y++) {
    const base = y * width;
    if (y >= radius && y + radius < height && width > 2 * radius) {
      for (let x = radius; x < width - radius; x++) out[base + x] = counts[base + x] >= neededInside ? 1 : 0;
      for (let x = 0; x < radius; x++) out[base + x] = counts[base + x] >= needed(span(x, width) * span(y, height)) ? 1 : 0;
      for (let x = width - radius; x < width; x++) out[base + x] = counts[base + x] >= needed(span(x, width) * span(y, height)) ? 1 : 0;
    } else {
      for (let x = 0; x < width; x++) out[base + x] = counts[base + x] >= needed(span(x, width) * span(y, height)) ? 1 : 0;
    }
  }
  return out;
}

export function dilate(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  return countAtLeast(mask, width, height, radius, () => 1);
}

export function erode(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  return countAtLeast(mask, width, height, radius, (area) => area);
}

/** The median filter of a binary image: set where most of the window is set. */
export function majority(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  return countAtLeast(mask, width, height, radius, (area) => (area >> 1) + 1);
}

export function close(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  return erode(dilate(mask, width, height, radius), width, height, radius);
}

export function open(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  return dilate(erode(mask, width, height, radius), width, height, radius);
}

/**
 * Connected regions of pixels equal to `value`, found on horizontal runs with union-find (far fewer
 * runs than pixels in a tissue mask). Foreground is 8-connected; background is 4-connected, the exact
 * complement, so a hole is never confused with the glass around the tissue.
 */
function labelRuns(mask: Uint8Array, width: number, height: number, value: 0 | 1) {
  let runCount = 0;
  for (let y = 0; y < height; y++) {
    const base = y * width;
    for (let x = 0; x < width; x++) if (mask[base + x] === value && (x === 0 || mask[base + x - 1] !== value)) runCount++;
  }
  const runRow = new Int32Array(runCount);
  const runStart = new Int32Array(runCount);
  const runEnd = new Int32Array(runCount); // inclusive
  const rowFirstRun = new Int32Array(height + 1);
  let r = 0;
  for (let y = 0; y < height; y++) {
    rowFirstRun[y] = r;
    const base = y * width;
    let x = 0;
    while (x < width) {
      if (mask[base + x] !== value) {
        x++;
        continue;
      }
      runRow[r] = y;
      runStart[r] = x;
      while (x < width && mask[base + x] === value) x++;
      runEnd[r++] = x - 1;
    }
  }
  rowFirstRun[height] = r;
  const parent = new Int32Array(runCount);
  for (let i = 0; i < runCount; i++) parent[i] = i;
  const root = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  const reach = value === 1 ? 1 : 0; // diagonal neighbours join foreground runs only
  for (let y = 1; y < height; y++) {
    let above = rowFirstRun[y - 1];
    const aboveEnd = rowFirstRun[y];
    for (let i = rowFirstRun[y]; i < rowFirstRun[y + 1]; i++) {
      while (above < aboveEnd && runEnd[above] < runStart[i] - reach) above++;
      for (let j = above; j < aboveEnd && runStart[j] <= runEnd[i] + reach; j++) {
        const a = root(i);
        const b = root(j);
        if (a !== b) parent[a < b ? b : a] = a < b ? a : b;
      }
    }
  }
  const size = new Float64Array(runCount);
  const touchesBorder = new Uint8Array(runCount);
  for (let i = 0; i < runCount; i++) {
    const top = root(i);
    size[top] += runEnd[i] - runStart[i] + 1;
    if (runStart[i] === 0 || runEnd[i] === width - 1 || runRow[i] === 0 || runRow[i] === height - 1) touchesBorder[top] = 1;
  }
  return { runCount, runRow, runStart, runEnd, root, size, touchesBorder };
}

/** Clears 8-connected objects of fewer than `minArea` pixels, in place. */
export function removeSmallObjects(mask: Uint8Array, width: number, height: number, minArea: number): void {
  if (minArea <= 1) return;
  const runs = labelRuns(mask, width, height, 1);
  for (let i = 0; i < runs.runCount; i++) {
    if (runs.size[runs.root(i)] < minArea) mask.fill(0, runs.runRow[i] * width + runs.runStart[i], runs.runRow[i] * width + runs.runEnd[i] + 1);
  }
}

/**
 * Fills holes (background regions not touching the border) of fewer than `maxArea` pixels, in place.
 * Background touching the border is glass around the tissue, never a hole.
 */
export function fillSmallHoles(mask: Uint8Array, width: number, height: number, maxArea: number): void {
  if (maxArea <= 1) return;
  const runs = labelRuns(mask, width, height, 0);
  for (let i = 0; i < runs.runCount; i++) {
    const top = runs.root(i);
    if (!runs.touchesBorder[top] && runs.size[top] < maxArea) mask.fill(1, runs.runRow[i] * width + runs.runStart[i], runs.runRow[i] * width + runs.runEnd[i] + 1);
  }
}
