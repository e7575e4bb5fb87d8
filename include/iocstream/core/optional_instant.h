// OptionalInstant: an optional UTC instant in 8 bytes, for the sixteen optional instants of
// every DossierState (std::optional<Instant> takes 16: a flag padded to the 8-byte value).
// The dossier cache holds hundreds of thousands of states; 112 bytes less each keeps more of
// them in memory and in the CPU caches.
//
// Instant::min() (the earliest millisecond a 64-bit count can hold, year -292 million) marks
// "no value": it is no date an event or a rule produces (the decoder reads years 0000 to
// 9999), and assigning it makes the value empty. Ordering matches std::optional's: an empty
// value is less than any instant.
//
// It reads like std::optional<Instant> (has_value, *, ->, value_or, reset, = std::nullopt)
// and converts from and to Instant and std::optional<Instant>. Comparisons with a
// std::optional<Instant> use the exact overloads below (not std::optional's templates).
// Plain value: thread-compatible.
#pragma once

#include <compare>
#include <optional>

#include "iocstream/core/types.h"

namespace iocstream {

class OptionalInstant {
 public:
  constexpr OptionalInstant() noexcept = default;
  constexpr OptionalInstant(std::nullopt_t) noexcept {}       // NOLINT: as std::optional
  constexpr OptionalInstant(Instant t) noexcept : t_(t) {}    // NOLINT: as std::optional
  constexpr OptionalInstant(const std::optional<Instant>& o)  // NOLINT: as std::optional
      noexcept
      : t_(o ? *o : kNone) {}

  [[nodiscard]] constexpr bool has_value() const noexcept { return t_ != kNone; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  // The instant; as with std::optional, only when has_value().
  [[nodiscard]] constexpr const Instant& operator*() const noexcept { return t_; }
  [[nodiscard]] constexpr const Instant* operator->() const noexcept { return &t_; }
  [[nodiscard]] constexpr Instant value() const {
    if (!has_value()) throw std::bad_optional_access();
    return t_;
  }
  [[nodiscard]] constexpr Instant value_or(Instant fallback) const noexcept {
    return has_value() ? t_ : fallback;
  }
  constexpr void reset() noexcept { t_ = kNone; }
  constexpr Instant& emplace(Instant t) noexcept { return t_ = t; }

  [[nodiscard]] constexpr std::optional<Instant> ToOptional() const noexcept {
    return has_value() ? std::optional<Instant>(t_) : std::nullopt;
  }
  constexpr operator std::optional<Instant>() const noexcept {  // NOLINT: as std::optional
    return ToOptional();
  }

  // Empty values are equal to each other and to std::nullopt, and less than any instant.
  friend constexpr bool operator==(const OptionalInstant&, const OptionalInstant&) = default;
  friend constexpr auto operator<=>(const OptionalInstant&, const OptionalInstant&) = default;
  friend constexpr bool operator==(const OptionalInstant& a, std::nullopt_t) noexcept {
    return !a.has_value();
  }
  // An empty value is unequal to, and less than, any instant.
  friend constexpr bool operator==(const OptionalInstant& a, Instant b) noexcept {
    return a.has_value() && a.t_ == b;
  }
  friend constexpr std::strong_ordering operator<=>(const OptionalInstant& a, Instant b) noexcept {
    return a.has_value() ? a.t_ <=> b : std::strong_ordering::less;
  }
  // Exact overloads, so that comparing with a std::optional<Instant> never picks
  // std::optional's templates (which would take this for a value and call two empty values
  // unequal).
  friend constexpr bool operator==(const OptionalInstant& a,
                                   const std::optional<Instant>& b) noexcept {
    return a == OptionalInstant(b);
  }
  friend constexpr auto operator<=>(const OptionalInstant& a,
                                    const std::optional<Instant>& b) noexcept {
    return a <=> OptionalInstant(b);
  }

 private:
  static constexpr Instant kNone = Instant::min();
  Instant t_ = kNone;
};

// OptionalMillis: an optional duration in 8 bytes (std::optional<Millis> takes 16), for
// DossierState::legal_working_time. Millis::min() marks "no value" (no working time a
// calendar measures). Reads like std::optional<Millis> for what the rules and the codec use.
// Plain value: thread-compatible.
class OptionalMillis {
 public:
  constexpr OptionalMillis() noexcept = default;
  constexpr OptionalMillis(std::nullopt_t) noexcept {}      // NOLINT: as std::optional
  constexpr OptionalMillis(Millis d) noexcept : d_(d) {}    // NOLINT: as std::optional
  constexpr OptionalMillis(const std::optional<Millis>& o)  // NOLINT: as std::optional
      noexcept
      : d_(o ? *o : kNone) {}

  [[nodiscard]] constexpr bool has_value() const noexcept { return d_ != kNone; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  // The duration; as with std::optional, only when has_value().
  [[nodiscard]] constexpr const Millis& operator*() const noexcept { return d_; }
  [[nodiscard]] constexpr const Millis* operator->() const noexcept { return &d_; }
  constexpr void reset() noexcept { d_ = kNone; }
  constexpr operator std::optional<Millis>() const noexcept {  // NOLINT: as std::optional
    return has_value() ? std::optional<Millis>(d_) : std::nullopt;
  }

  friend constexpr bool operator==(const OptionalMillis&, const OptionalMillis&) = default;
  // An empty value is unequal to any duration.
  friend constexpr bool operator==(const OptionalMillis& a, Millis b) noexcept {
    return a.has_value() && a.d_ == b;
  }

 private:
  static constexpr Millis kNone = Millis::min();
  Millis d_ = kNone;
};

}  // namespace iocstream
