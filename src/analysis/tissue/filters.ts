/** Grey-level statistics of one 8-bit channel stored row-major. */

/**
 * Histogram of the channel after a k x k median filter with replicated borders (OpenCV's medianBlur),
 * taken on every `rowStride`-th row: a threshold needs the distribution, not every pixel. Each sampled
 * row is filtered by Huang's sliding histogram (one column in, one out, the median walks a few bins).
 */
export function medianFilteredHistogram(src: Uint8Array, width: number, height: number, kernel: number, rowStride: number): Float64Array {
  const result = new Float64Array(256);
  const radius = kernel >> 1;
  const rank = (kernel * kernel) >> 1; // 0-based rank of the median among kernel^2 values
  const window = new Int32Array(256);
  const rowOffsets = new Int32Array(kernel);
  const clampX = (x: number): number => (x < 0 ? 0 : x >= width ? width - 1 : x);
  for (let y = 0; y < height; y += rowStride) {
    for (let i = 0; i < kernel; i++) rowOffsets[i] = Math.min(height - 1, Math.max(0, y + i - radius)) * width;
    window.fill(0);
    for (let i = 0; i < kernel; i++) {
      for (let dx = -radius; dx <= radius; dx++) window[src[rowOffsets[i] + clampX(dx)]]++;
    }
    let median = 0;
    let below = 0; // how many window values are < median
    while (below + window[median] <= rank) below += window[median++];
    result[median]++;
    for (let x = 1; x < width; x++) {
      const leaving = clampX(x - radius - 1);
      const entering = clampX(x + radius);
      for (let i = 0; i < kernel; i++) {
        const gone = src[rowOffsets[i] + leaving];
        window[gone]--;
        if (gone < median) below--;
        const come = src[rowOffsets[i] + entering];
        window[come]++;
        if (come < median) below++;
      }
      while (below > rank) below -= window[--median];
      while (below + window[median] <= rank) below += window[median++];
      result[median]++;
    }
  }
  return result;
}

/**
 * Otsu's threshold of an 8-bit histogram: the value t maximising the between-class variance of
 * {v <= t} and {v > t}. With a single occupied bin it returns that bin (nothing lies above it).
 */
export function otsuThreshold(histogram: Float64Array): number {
  let total = 0;
  let sumAll = 0;
  for (let v = 0; v < 256; v++) {
    total += histogram[v];
    sumAll += v * histogram[v];
  }
  let weightLow = 0;
  let sumLow = 0;
  let best = -1;
  let threshold = 0;
  for (let t = 0; t < 256; t++) {
    weightLow += histogram[t];
    sumLow += t * histogram[t];
    if (weightLow === 0) continue;
    const weightHigh = total - weightLow;
    if (weightHigh === 0) return best < 0 ? t : threshold;
    const between = weightLow * weightHigh * (sumLow / weightLow - (sumAll - sumLow) / weightHigh) ** 2;
    if (between > best) {
      best = between;
      threshold = t;
    }
  }
  return threshold;
}

/** Median of the values where the mask is set (0 when it is set nowhere). */
export function medianWhere(values: Uint8Array, mask: Uint8Array): number {
  const histogram = new Int32Array(256);
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    if (mask[i]) {
      histogram[values[i]]++;
      count++;
    }
  }
  let seen = 0;
  for (let v = 0; v < 256; v++) {
    seen += histogram[v];
    if (seen * 2 > count) return v;
  }
  return 0;
}
