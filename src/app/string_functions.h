// Which of glibc's string functions (memcpy, memmove, memset, memcmp, memchr, strlen...) the
// process uses, chosen once at its start.
//
// On a CPU with AVX-512, glibc 2.36 (Debian 12) picks its EVEX and AVX-512 variants of these
// functions (`__memmove_avx512_unaligned_erms`, `__memchr_evex_rtm`, `__memcmp_evex_movbe`...),
// which use the registers ymm16-ymm31 or zmm16-zmm31. Measured on this project's 2-core Xeon
// (Rocket Lake, a VM), the 4.57M-event `replay`: the pipeline thread 7.62 s of CPU with them,
// 5.41 s with glibc's AVX2 variants (`__memmove_avx_unaligned_erms_rtm`, `__memchr_avx2_rtm`...:
// ymm0-ymm15, VZEROUPPER on return); the NDJSON reader 2.63 -> 2.18 s, the state writer 2.72 ->
// 2.02 s. Its EVEX variants alone (`glibc.cpu.hwcaps=Prefer_No_AVX512`: 256 bits wide, in
// ymm16-ymm31) were as slow as the AVX-512 ones, so the width is not the cause; why code that
// calls them runs slower (the rest of the process is compiled for baseline x86-64) is inferred,
// not measured: the upper vector state that VZEROUPPER does not clear is the likely cause,
// though the reader thread, whose simdjson kernel writes zmm16-zmm19 itself, gained too
// (docs/performance-history.md, session 53). GLIBC_TUNABLES is read by the dynamic loader
// before main(), so choosing needs the program to be executed again.
//
// Thread-safety: PreferAvx2StringFunctions must run first in main(), before iocstream starts
// a thread (jemalloc's background thread may run already: it reads no environment).

#pragma once

#include <string>

namespace iocstream::app {

// The value appended to GLIBC_TUNABLES: glibc's AVX-512 string variants off, its AVX2 ones
// chosen (the CPU still runs AVX-512 code that asks for it: simdjson's and xxHash's own
// dispatch are not glibc's).
inline constexpr const char* kAvx2StringTunable =
    "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD";

// Set in the environment of the program executed again, so that it never executes itself a
// second time whatever the loader did with GLIBC_TUNABLES.
inline constexpr const char* kReexecutedVariable = "IOCSTREAM_STRING_FUNCTIONS";

// On a CPU with AVX-512, unless GLIBC_TUNABLES already sets glibc.cpu.hwcaps (the operator's
// choice stands), IOCSTREAM_STRING_FUNCTIONS is set (to anything: "glibc" keeps glibc's own
// choice), the process is in secure mode (set-user-id or file capabilities: the loader ignores
// GLIBC_TUNABLES) or was started through the dynamic loader (`ld.so iocstream ...`), executes
// the program again by the path it was started by (AT_EXECFN; /proc/self/exe if that fails,
// the process then named after argv[0] again) with the same arguments, the same environment
// plus GLIBC_TUNABLES extended by kAvx2StringTunable and IOCSTREAM_STRING_FUNCTIONS=avx2 (both
// inherited by child processes), in the same process (same id: systemd, shells and tests see
// one process). Returns when nothing needed to change, or when the execution failed (the
// process then goes on with glibc's choice, as before; StringFunctionsDescription says why).
// `argv` is main()'s. A file replaced at the start's path within the few milliseconds between
// the start and the execution would be the one executed.
void PreferAvx2StringFunctions(char** argv);

// What was chosen, for `--version`, the log line of the state store's opening and the
// benchmarks' reports: "glibc string functions: " then "AVX2 variants (GLIBC_TUNABLES=...)",
// "as GLIBC_TUNABLES sets (...)", or "glibc's choice (...)" with the reason: the CPU has no
// AVX-512, IOCSTREAM_STRING_FUNCTIONS=..., secure mode, started through the dynamic loader,
// the execution failed (each errno), or PreferAvx2StringFunctions was not called.
[[nodiscard]] std::string StringFunctionsDescription();

}  // namespace iocstream::app
