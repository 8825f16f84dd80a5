import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalCpuFlag, normaliseCpuFlags, parseProcCpuinfo } from '../../src/device/cpu.ts';

// Two logical CPUs of one core (hyper-threading) plus a second core, shaped like a real x86 /proc/cpuinfo.
const X86_CPUINFO = [0, 1, 2]
  .map(
    (n) => `processor\t: ${n}
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz
physical id\t: 0
core id\t\t: ${n === 2 ? 1 : 0}
flags\t\t: fpu sse4_2 avx fma avx2 avx512f avx512_vnni amx_tile amx_int8 avx512_bf16
`,
  )
  .join('\n');

// A Raspberry Pi 4 style file: Features instead of flags, no core ids, model in a trailing block.
const ARM_CPUINFO = `processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU part\t: 0xd08

processor\t: 1
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU part\t: 0xd08

Hardware\t: BCM2835
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
`;

test('flags are reduced to the tracked set, in a stable order, whatever the spelling', () => {
  assert.deepEqual(normaliseCpuFlags('fma avx2 SSE4_2 avx512f avx512_vnni amx_int8 avx_vnni sse3 aes', 'x64'), [
    'avx2',
    'avx512f',
    'avx512_vnni',
    'avx_vnni',
    'amx',
    'sse4_2',
    'fma',
  ]);
  // macOS sysctl spellings
  assert.deepEqual(normaliseCpuFlags('SSE4.2 AVX2 FMA AVX512VNNI', 'x64'), ['avx2', 'avx512_vnni', 'sse4_2', 'fma']);
  assert.deepEqual(normaliseCpuFlags('sse sse2 ssse3', 'x64'), []);
});

test('aarch64 "asimd" is NEON, and a 64-bit ARM CPU has NEON even with no flags listed', () => {
  assert.deepEqual(normaliseCpuFlags('fp asimd crc32', 'arm'), ['neon']);
  assert.deepEqual(normaliseCpuFlags('', 'arm64'), ['neon']);
  assert.deepEqual(normaliseCpuFlags('', 'x64'), []);
});

test('canonicalCpuFlag maps kernel names to tracked flags and refuses untracked ones', () => {
  assert.equal(canonicalCpuFlag('amx_int8'), 'amx');
  assert.equal(canonicalCpuFlag('AVX512_VNNI'), 'avx512_vnni');
  assert.equal(canonicalCpuFlag('avx512_bf16'), null);
});

test('/proc/cpuinfo on x86: vendor, model, flags, logical and physical cores', () => {
  const facts = parseProcCpuinfo(X86_CPUINFO);
  assert.equal(facts.vendor, 'Intel');
  assert.equal(facts.model, 'Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz');
  assert.equal(facts.logicalCores, 3);
  assert.equal(facts.physicalCores, 2);
  assert.deepEqual(normaliseCpuFlags(facts.rawFlags, 'x64'), ['avx2', 'avx512f', 'avx512_vnni', 'amx', 'sse4_2', 'fma']);
});

test('/proc/cpuinfo on ARM: implementer as vendor, board model, Features, unknown physical cores', () => {
  const facts = parseProcCpuinfo(ARM_CPUINFO);
  assert.equal(facts.vendor, 'ARM');
  assert.equal(facts.model, 'Raspberry Pi 4 Model B Rev 1.4');
  assert.equal(facts.logicalCores, 2);
  assert.equal(facts.physicalCores, null);
  assert.deepEqual(normaliseCpuFlags(facts.rawFlags, 'arm64'), ['neon']);
});

test('an empty or foreign /proc/cpuinfo yields no cores rather than invented ones', () => {
  const facts = parseProcCpuinfo('');
  assert.equal(facts.logicalCores, 0);
  assert.equal(facts.vendor, 'unknown');
});
