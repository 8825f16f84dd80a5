/**
 * CPU facts from raw sources: flag normalisation (systeminformation and /proc/cpuinfo spell flags the way
 * the kernel does, macOS sysctl in upper case) and the /proc/cpuinfo fallback parser.
 */
import { CPU_FLAGS, type CpuFlag } from './types.ts';

const FLAG_SPELLINGS: Record<CpuFlag, readonly string[]> = {
  avx2: ['avx2'],
  avx512f: ['avx512f'],
  avx512_vnni: ['avx512_vnni', 'avx512vnni'],
  avx_vnni: ['avx_vnni', 'avxvnni'],
  // AMX-INT8 is the part that speeds up int8 inference; the tile unit is listed with it on every AMX CPU.
  amx: ['amx_int8', 'amx_tile'],
  // aarch64 kernels call NEON "asimd".
  neon: ['neon', 'asimd'],
  sse4_2: ['sse4_2', 'sse4.2'],
  fma: ['fma', 'fma3'],
};

/** The tracked flag a kernel/sysctl flag name stands for ('amx_int8' -> 'amx'), or null if we do not track it. */
export function canonicalCpuFlag(name: string): CpuFlag | null {
  const spelling = name.toLowerCase();
  return CPU_FLAGS.find((flag) => FLAG_SPELLINGS[flag].includes(spelling)) ?? null;
}

/** Reduce a raw, space-separated flag list to the flags model selection cares about, in a stable order. */
export function normaliseCpuFlags(raw: string, arch: string): CpuFlag[] {
  const present = new Set(raw.toLowerCase().split(/\s+/).filter(Boolean));
  return CPU_FLAGS.filter(
    // Advanced SIMD is mandatory on ARMv8-A, so a 64-bit ARM CPU has NEON even when the kernel does not say.
    (flag) => FLAG_SPELLINGS[flag].some((spelling) => present.has(spelling)) || (flag === 'neon' && arch === 'arm64'),
  );
}

export interface CpuinfoFacts {
  vendor: string;
  model: string;
  rawFlags: string;
  logicalCores: number;
  /** Null when the file does not say which logical CPUs share a core (ARM kernels do not). */
  physicalCores: number | null;
}

const X86_VENDORS: Record<string, string> = { GenuineIntel: 'Intel', AuthenticAMD: 'AMD', HygonGenuine: 'Hygon' };
const ARM_IMPLEMENTERS: Record<string, string> = {
  '0x41': 'ARM',
  '0x42': 'Broadcom',
  '0x48': 'HiSilicon',
  '0x4e': 'NVIDIA',
  '0x51': 'Qualcomm',
  '0x61': 'Apple',
};

/** Parse Linux /proc/cpuinfo (x86 and ARM layouts). */
export function parseProcCpuinfo(text: string): CpuinfoFacts {
  const processors = text
    .split(/\n\s*\n/)
    .map(parseBlock)
    .filter((block) => block.has('processor'));
  const first = processors[0] ?? new Map<string, string>();
  // Some ARM kernels put "Hardware"/"Model" in a trailing block without a "processor" line.
  const global = new Map(text.split(/\n\s*\n/).map(parseBlock).flatMap((block) => [...block]));

  const implementer = first.get('CPU implementer');
  const vendorId = first.get('vendor_id');
  const vendor = vendorId
    ? (X86_VENDORS[vendorId] ?? vendorId)
    : implementer
      ? (ARM_IMPLEMENTERS[implementer.toLowerCase()] ?? `ARM implementer ${implementer}`)
      : 'unknown';
  const model =
    first.get('model name') ??
    global.get('Model') ??
    global.get('Hardware') ??
    (first.get('CPU part') ? `${vendor} part ${first.get('CPU part')}` : 'unknown');

  const cores = new Set<string>();
  for (const block of processors) {
    const coreId = block.get('core id');
    if (coreId !== undefined) cores.add(`${block.get('physical id') ?? '0'}:${coreId}`);
  }
  return {
    vendor,
    model,
    rawFlags: first.get('flags') ?? first.get('Features') ?? '',
    logicalCores: processors.length,
    physicalCores: cores.size > 0 ? cores.size : null,
  };
}

function parseBlock(block: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of block.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return fields;
}
