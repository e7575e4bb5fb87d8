// Which of glibc's string functions (memcpy, memmove, memset, memcmp, memchr, strlen...) the
// process uses, chosen once at its start.
//
// On a CPU with AVX-512, glibc 2.36 (Debian 12) picks the variants of these functions that use
// the registers zmm16-zmm31 or ymm16-ymm31 (`__memmove_avx512_unaligned_erms`,
// `__memchr_evex_rtm`...). VZEROUPPER clears the upper halves of zmm0-zmm15 only, so after the
// first such call the upper vector state stays in use, and the rest of the process (iocstream's
// own code, libstdc++, RocksDB: all built for baseline x86-64, legacy SSE) runs markedly slower.
// Measured on this project's 2-core Xeon (Rocket Lake) machine, the 4.57M-event `replay`: the
// pipeline thread 7.62 s of CPU with glibc's default choice, 5.41 s with its AVX2 variants
// (ymm0-ymm15, VZEROUPPER on return); the NDJSON reader 2.63 -> 2.18 s, the state writer
// 2.72 -> 2.02 s. glibc's EVEX variants (ymm16-ymm31, 256 bits wide) were as slow as its AVX-512
// ones: the registers, not the 512-bit width (docs/performance-history.md, session 53).
// GLIBC_TUNABLES is read by the dynamic loader before main(), so choosing needs the program to
// be executed again.
//
// Thread-safety: PreferAvx2StringFunctions must run first in main(), before any thread starts.
#pragma once

#include <string>

namespace iocstream::app {

// The value appended to GLIBC_TUNABLES: glibc's AVX-512 string variants off, its AVX2 ones
// chosen (the CPU still runs AVX-512 code that asks for it: simdjson's and xxHash's own
// dispatch are not glibc's).
inline constexpr const char* kAvx2StringTunable =
    "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD";

// Set in the environment of the program executed again, so that it never executes itself a
// second time (a loader that ignores GLIBC_TUNABLES, as for set-user-id programs, still
// leaves it there).
inline constexpr const char* kReexecutedVariable = "IOCSTREAM_STRING_FUNCTIONS";

// On a CPU with AVX-512, unless GLIBC_TUNABLES already sets glibc.cpu.hwcaps (the operator's
// choice stands) or IOCSTREAM_STRING_FUNCTIONS is set (to anything: "glibc" keeps glibc's own
// choice), executes the program's file (/proc/self/exe's target) again with the same arguments and
// environment plus kAvx2StringTunable in GLIBC_TUNABLES (same process id: systemd, shells and tests
// see one process). Returns when nothing needed to change, or when the execution failed (no /proc:
// the process then goes on with glibc's choice, as before; StringFunctionsDescription says
// so). `argv` is main()'s.
void PreferAvx2StringFunctions(char** argv);

// What was chosen, for `--version`, the log line of the state store's opening and the
// benchmarks' reports: "glibc string functions: " then "AVX2 variants (GLIBC_TUNABLES=...)",
// "glibc's choice (the CPU has no AVX-512)", "glibc's choice (IOCSTREAM_STRING_FUNCTIONS=...)",
// "as GLIBC_TUNABLES sets (...)", or "glibc's AVX-512 variants (...)" when executing the
// program again failed or was not asked for.
[[nodiscard]] std::string StringFunctionsDescription();

}  // namespace iocstream::app
