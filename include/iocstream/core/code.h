// Code: an interned code of a dossier attribute (agency, commune, procedure or unit code) in
// DossierState. One pointer wide: every distinct text is stored once, in a process-wide pool,
// and each Code points to it.
//
// Why: every event reads and compares its dossier's codes (aggregates, deadline rules), and the
// dossier cache holds hundreds of thousands of states. As std::string, each code took 32 bytes
// in the state plus a heap block when longer than 15 bytes ("ubnd-xa-lac-luong",
// "2.002349.000.00.00.H44"): three allocations and three cache misses per dossier. As a Code it
// takes 8 bytes, copies and compares as a pointer, and its text is shared and hot in cache.
//
// Memory: the pool never shrinks; each distinct text costs about 100 bytes (the string, its
// heap block when longer than 15 bytes, an index slot). Codes come from a bounded vocabulary
// (the province's units and communes, the procedure catalog: a few thousand), but events are
// input: the event decoder and the CSV source only look codes up (Code::Find), and an
// event's codes new to the pool are admitted by the pipeline (Code::Admitted) once the event
// passed every check and its dossier was read (which interns the dossier's own codes, so an
// event repeating them passes the limit too). Admitted refuses a new text once
// kMaxAdmittedCodes are held, so that no producer can grow the pool without bound (the event
// is dead-lettered, reason "too_many_codes"). Codes read back from the state store are always
// interned (they were admitted when written). The iocstream_codes_interned gauge shows the
// pool's size. The pool is the process's, not the state's: a restarted process holds only the
// codes it has read back so far, so past the limit which event is refused depends on the
// process's history (restarts, instances, API reads): a safety net against a faulty
// publisher, documented as such in docs/event-contract.md ("too_many_codes").
//
// Ordering compares the texts (as std::string would); equality compares the pointers, which is
// the same because equal texts are interned once.
//
// Thread-safety: Code values are immutable and may be read from any thread. Creating one from
// a text looks it up in a per-thread cache of recent texts first, then under the pool's lock
// (a hash lookup; the text is copied the first time only).
#pragma once

#include <compare>
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace iocstream {

// Distinct codes (non-empty texts) Code::Admitted lets in (the pool may hold more: codes read
// from the state store are not refused). About 6 MiB at most; a province uses a few thousand.
inline constexpr size_t kMaxAdmittedCodes = 65536;

class Code {
 public:
  // The empty code.
  Code() noexcept;
  // Interns `text` (any bytes; no validation: the decoder bounds and checks codes).
  Code(std::string_view text);  // NOLINT(google-explicit-constructor): a code is its text
  Code(const std::string& text) : Code(std::string_view(text)) {}  // NOLINT
  Code(const char* text) : Code(std::string_view(text)) {}         // NOLINT

  // The text; valid for the life of the process.
  [[nodiscard]] const std::string& str() const noexcept { return *text_; }
  [[nodiscard]] std::string_view view() const noexcept { return *text_; }
  operator std::string_view() const noexcept { return *text_; }  // NOLINT
  [[nodiscard]] bool empty() const noexcept { return text_->empty(); }
  [[nodiscard]] size_t size() const noexcept { return text_->size(); }
  [[nodiscard]] const char* data() const noexcept { return text_->data(); }

  friend bool operator==(Code a, Code b) noexcept { return a.text_ == b.text_; }
  friend bool operator==(Code a, std::string_view b) noexcept { return a.view() == b; }
  friend bool operator==(Code a, const std::string& b) noexcept { return a.view() == b; }
  friend bool operator==(Code a, const char* b) noexcept { return a.view() == b; }
  friend std::strong_ordering operator<=>(Code a, Code b) noexcept {
    return a.text_ == b.text_ ? std::strong_ordering::equal : a.view() <=> b.view();
  }
  // Comparing with a text never interns it.
  friend std::strong_ordering operator<=>(Code a, std::string_view b) noexcept {
    return a.view() <=> b;
  }
  friend std::strong_ordering operator<=>(Code a, const std::string& b) noexcept {
    return a.view() <=> std::string_view(b);
  }
  friend std::strong_ordering operator<=>(Code a, const char* b) noexcept {
    return a.view() <=> std::string_view(b);
  }
  friend std::ostream& operator<<(std::ostream& out, Code c) { return out << c.view(); }

  // Distinct codes interned so far (the empty text, which is no code, not counted).
  [[nodiscard]] static size_t PoolSize();

  // The code of `text`, interned if it is already held or fewer than kMaxAdmittedCodes are;
  // nullopt, holding nothing new, for a new text past the limit. The gate for codes from
  // input (the pipeline's, for an event's new codes).
  [[nodiscard]] static std::optional<Code> Admitted(std::string_view text);
  // The code of `text` if the pool holds it; nullopt otherwise. Interns nothing.
  [[nodiscard]] static std::optional<Code> Find(std::string_view text);

 private:
  explicit Code(const std::string* text) noexcept : text_(text) {}

  const std::string* text_;
};

}  // namespace iocstream

template <>
struct std::hash<iocstream::Code> {
  size_t operator()(iocstream::Code c) const noexcept { return std::hash<const void*>{}(c.data()); }
};
