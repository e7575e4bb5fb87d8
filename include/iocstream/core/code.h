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
// Memory: the pool never shrinks; it holds every distinct code seen by the process (about 50 B
// each). Codes come from a bounded vocabulary (the province's units, communes and the national
// procedure catalog, a few thousand): the same assumption the aggregate rows and the metrics'
// labels already make. Code::PoolSize() tells how many are held.
//
// Ordering compares the texts (as std::string would); equality compares the pointers, which is
// the same because equal texts are interned once.
//
// Thread-safety: Code values are immutable and may be read from any thread; creating one from a
// text locks the pool (a hash lookup; the text is copied the first time only).
#pragma once

#include <compare>
#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>

namespace iocstream {

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
  friend std::ostream& operator<<(std::ostream& out, Code c) { return out << c.view(); }

  // Distinct texts interned so far (the empty one included).
  [[nodiscard]] static size_t PoolSize();

 private:
  const std::string* text_;
};

}  // namespace iocstream

template <>
struct std::hash<iocstream::Code> {
  size_t operator()(iocstream::Code c) const noexcept { return std::hash<const void*>{}(c.data()); }
};
