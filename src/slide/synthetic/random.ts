/**
 * Deterministic randomness for synthetic slides. Everything is integer arithmetic on 32-bit values
 * (Math.imul), so the same seed gives the same pixels, and therefore the same file, on every machine.
 */

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A well-mixed 32-bit hash of a few integers (coordinates, seeds, level numbers). */
export function hash32(...values: number[]): number {
  let h = 0x811c9dc5;
  for (const value of values) h = fmix32(h ^ fmix32((value | 0) + 0x9e3779b9));
  return h;
}

/** mulberry32: small, fast and good enough for textures. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

function quintic(t: number): number {
  return t * t * t * (t * (t * 6 - 15) + 10);
}

function latticeValue(seed: number, octave: number, ix: number, iy: number): number {
  return hash32(seed, octave, ix, iy) / 4294967296;
}

/**
 * Fractal value noise in [0, 1)-ish at (u, v), in lattice cells of the first octave. Smooth, so a tissue
 * mask thresholded from it forms irregular islands rather than speckle.
 */
export function fractalNoise(seed: number, u: number, v: number, octaves: number): number {
  let sum = 0;
  let norm = 0;
  let amplitude = 1;
  let frequency = 1;
  for (let octave = 0; octave < octaves; octave++) {
    const x = u * frequency;
    const y = v * frequency;
    const ix = Math.floor(x);
    const iy = Math.floor(y);
    const fx = quintic(x - ix);
    const fy = quintic(y - iy);
    const top = latticeValue(seed, octave, ix, iy) * (1 - fx) + latticeValue(seed, octave, ix + 1, iy) * fx;
    const bottom = latticeValue(seed, octave, ix, iy + 1) * (1 - fx) + latticeValue(seed, octave, ix + 1, iy + 1) * fx;
    sum += amplitude * (top * (1 - fy) + bottom * fy);
    norm += amplitude;
    amplitude *= 0.5;
    frequency *= 2;
  }
  return sum / norm;
}

/**
 * A small grid of random values bilinearly interpolated: cheap smooth texture for one tile or region
 * (stroma fibres, staining unevenness). `cell` is the lattice spacing in output pixels.
 */
export class LatticeTexture {
  private readonly values: Float32Array;
  private readonly columns: number;
  private readonly cell: number;
  private readonly width: number;
  private readonly height: number;

  constructor(rng: Rng, width: number, height: number, cell: number) {
    this.cell = Math.max(1, cell);
    this.width = width;
    this.height = height;
    this.columns = Math.ceil(width / this.cell) + 2;
    const rows = Math.ceil(height / this.cell) + 2;
    this.values = new Float32Array(this.columns * rows);
    for (let i = 0; i < this.values.length; i++) this.values[i] = rng.next();
  }

  /** Adds weight x the texture value (sampled at pixel centres) to every pixel of a row-major target. */
  addTo(target: Float32Array, weight: number): void {
    const width = this.width;
    const columns = new Int32Array(width);
    const columnFractions = new Float32Array(width);
    for (let x = 0; x < width; x++) {
      const gx = (x + 0.5) / this.cell;
      columns[x] = Math.floor(gx);
      columnFractions[x] = gx - columns[x];
    }
    const v = this.values;
    for (let y = 0; y < this.height; y++) {
      const gy = (y + 0.5) / this.cell;
      const row = Math.floor(gy);
      const fy = gy - row;
      const top = row * this.columns;
      const bottom = top + this.columns;
      for (let x = 0; x < width; x++) {
        const i = columns[x];
        const fx = columnFractions[x];
        const upper = v[top + i] + (v[top + i + 1] - v[top + i]) * fx;
        const lower = v[bottom + i] + (v[bottom + i + 1] - v[bottom + i]) * fx;
        target[y * width + x] += weight * (upper + (lower - upper) * fy);
      }
    }
  }
}
