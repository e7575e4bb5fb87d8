// main() of the micro benchmarks: Google Benchmark's own, after choosing glibc's string
// functions as iocstream does (app/string_functions.h), so that they measure the code as it
// runs in iocstream. The choice is in each report's context (`string_functions`).
#include <benchmark/benchmark.h>

#include "app/string_functions.h"

int main(int argc, char** argv) {
  iocstream::app::PreferAvx2StringFunctions(argv);
  benchmark::AddCustomContext("string_functions", iocstream::app::StringFunctionsDescription());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
