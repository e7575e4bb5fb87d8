#include "app/string_functions.h"

#include <sys/auxv.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

namespace iocstream::app {
namespace {

// What the last PreferAvx2StringFunctions found, for StringFunctionsDescription.
enum class Skipped { kNo, kSecureMode, kStartedByLoader, kExecFailed };
Skipped skipped = Skipped::kNo;
int path_error = 0;  // errno of executing the path the program was started by
int self_error = 0;  // errno of executing /proc/self/exe

bool CpuHasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") != 0;
}

std::string_view Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string_view() : std::string_view(value);
}

// Executed as /proc/self/exe, the process is named "exe": the name of argv[0] again (what
// `ps`, `pgrep -x` and the journal's _COMM show).
void RestoreName(char** argv) {
  std::string comm;
  std::getline(std::ifstream("/proc/self/comm"), comm);
  if (comm != "exe" || argv == nullptr || argv[0] == nullptr) return;
  std::string_view name(argv[0]);
  if (const size_t slash = name.rfind('/'); slash != std::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  if (name.empty() || name == "exe") return;
  const std::string truncated(name.substr(0, 15));  // the kernel keeps 15 bytes
  (void)prctl(PR_SET_NAME, truncated.c_str(), 0, 0, 0);
}

}  // namespace

void PreferAvx2StringFunctions(char** argv) {
  if (!CpuHasAvx512()) return;
  if (std::getenv(kReexecutedVariable) != nullptr) {  // done, or the operator's choice
    RestoreName(argv);
    return;
  }
  // A set-user-id or file-capability program: the loader ignores GLIBC_TUNABLES (secure mode),
  // so executing it again would change nothing.
  if (getauxval(AT_SECURE) != 0) {
    skipped = Skipped::kSecureMode;
    return;
  }
  // Started as `ld.so PROGRAM ARGS` (the loader run as a program: --library-path, a noexec
  // mount): the loader has no base address of its own then, and both the path the process
  // was started by and /proc/self/exe name the loader, not this program.
  if (getauxval(AT_BASE) == 0) {
    skipped = Skipped::kStartedByLoader;
    return;
  }
  const std::string tunables(Env("GLIBC_TUNABLES"));  // a copy: setenv replaces it
  if (tunables.find("glibc.cpu.hwcaps") != std::string::npos) return;
  std::string value = tunables;
  if (!value.empty()) value += ':';
  value += kAvx2StringTunable;
  if (setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0 ||
      setenv(kReexecutedVariable, "avx2", 1) != 0) {
    skipped = Skipped::kExecFailed;
    path_error = self_error = errno;
    return;
  }
  // The path the process was started by (the kernel's AT_EXECFN: a symbolic link's own name,
  // relative to the same working directory), so that the kernel names the process as before;
  // then the program's file itself, if that path is gone (RestoreName names it again).
  if (const auto* path = reinterpret_cast<const char*>(getauxval(AT_EXECFN)); path != nullptr) {
    execv(path, argv);
    path_error = errno;
  }
  execv("/proc/self/exe", argv);
  self_error = errno;
  // Only on failure: the environment goes back to what it was.
  skipped = Skipped::kExecFailed;
  if (tunables.empty()) {
    unsetenv("GLIBC_TUNABLES");
  } else {
    setenv("GLIBC_TUNABLES", tunables.c_str(), 1);
  }
  unsetenv(kReexecutedVariable);
}

std::string StringFunctionsDescription() {
  const std::string prefix = "glibc string functions: ";
  if (!CpuHasAvx512()) return prefix + "glibc's choice (the CPU has no AVX-512)";
  switch (skipped) {
    case Skipped::kSecureMode:
      return prefix + "glibc's choice (a secure-mode process: the loader ignores GLIBC_TUNABLES)";
    case Skipped::kStartedByLoader:
      return prefix + "glibc's choice (started through the dynamic loader)";
    case Skipped::kExecFailed:
      return prefix + "glibc's choice (executing the program again with " + kAvx2StringTunable +
             " failed: " + std::strerror(path_error) +
             "; /proc/self/exe: " + std::strerror(self_error) + ")";
    case Skipped::kNo:
      break;
  }
  const std::string_view chosen = Env(kReexecutedVariable);
  const std::string_view tunables = Env("GLIBC_TUNABLES");
  if (chosen == "avx2" && tunables.find(kAvx2StringTunable) != std::string_view::npos) {
    return prefix + "AVX2 variants (GLIBC_TUNABLES=" + std::string(tunables) + ")";
  }
  if (!chosen.empty()) {
    return prefix + "glibc's choice (" + kReexecutedVariable + "=" + std::string(chosen) + ")";
  }
  if (tunables.find("glibc.cpu.hwcaps") != std::string_view::npos) {
    return prefix + "as GLIBC_TUNABLES sets (" + std::string(tunables) + ")";
  }
  return prefix + "glibc's choice (the program did not choose at its start)";
}

}  // namespace iocstream::app
