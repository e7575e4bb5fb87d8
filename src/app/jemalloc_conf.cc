// jemalloc's options for the programs linked with it (iocstream and the benchmarks), read at
// its first allocation; the MALLOC_CONF environment variable still overrides them.
//
// Freed pages go back to the system within about a second rather than ten (jemalloc's
// default dirty_decay_ms), and at once rather than through MADV_FREE (muzzy pages, which the
// kernel counts in RSS until it needs the memory). A commit frees its WriteBatch, timer
// changes and alerts together: with the defaults those pages stayed resident for ten seconds
// after each commit, so RSS said little about what the process held. The background thread
// purges on time even when the program stops allocating.
//
// Symbol: jemalloc reads `malloc_conf` from the program (Debian builds it without a prefix).
extern "C" {
extern const char* malloc_conf;
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): jemalloc's interface
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
