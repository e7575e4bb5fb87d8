#include "app/string_functions.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace iocstream::app {
namespace {

// Why the last PreferAvx2StringFunctions did not execute the program again when it should
// have (errno of execv); 0 when it did not try or was not needed.
int exec_error = 0;

bool CpuHasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") != 0;
}

std::string_view Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string_view() : std::string_view(value);
}

}  // namespace

void PreferAvx2StringFunctions(char** argv) {
  if (!CpuHasAvx512()) return;
  if (std::getenv(kReexecutedVariable) != nullptr) return;  // done, or the operator's choice
  const std::string tunables(Env("GLIBC_TUNABLES"));        // a copy: setenv replaces it
  if (tunables.find("glibc.cpu.hwcaps") != std::string::npos) return;
  std::string value = tunables;
  if (!value.empty()) value += ':';
  value += kAvx2StringTunable;
  if (setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0 ||
      setenv(kReexecutedVariable, "avx2", 1) != 0) {
    exec_error = errno;
    return;
  }
  // The program's own path, so that the process keeps its name (`ps`, `top`, the journal's
  // _COMM: executing "/proc/self/exe" names it "exe"); that link itself when the file was
  // replaced since the start (a package upgrade: the path would run the new version).
  std::array<char, 4096> path{};
  const ssize_t size = readlink("/proc/self/exe", path.data(), path.size() - 1);
  const std::string_view own(path.data(), size > 0 ? static_cast<size_t>(size) : 0);
  if (!own.empty() && !own.ends_with(" (deleted)")) execv(path.data(), argv);
  execv("/proc/self/exe", argv);
  exec_error = errno;  // only on failure: the environment goes back to what it was
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
  if (exec_error != 0) {
    return prefix + "glibc's AVX-512 variants (executing the program again with " +
           kAvx2StringTunable + " failed: " + std::strerror(exec_error) + ")";
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
  return prefix + "glibc's AVX-512 variants (the program did not choose at its start)";
}

}  // namespace iocstream::app
