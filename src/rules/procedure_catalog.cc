#include "iocstream/rules/procedure_catalog.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace iocstream::rules {
namespace {

constexpr std::array<std::string_view, 3> kPausePolicyNames = {"pause", "restart", "kpi766"};
constexpr size_t kBaseCodeLength = 8;  // "d.dddddd"

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "d.dddddd" → d * 1'000'000 + dddddd; the view must be a base code.
uint32_t NumericCode(std::string_view base) {
  uint32_t value = static_cast<uint32_t>(base[0] - '0');
  for (size_t i = 2; i < kBaseCodeLength; ++i) {
    value = value * 10 + static_cast<uint32_t>(base[i] - '0');
  }
  return value;
}

bool ValidDuration(const std::optional<LegalDuration>& d) {
  return !d || (std::isfinite(d->amount) && d->amount >= 0);
}

}  // namespace

std::string_view ToString(PausePolicy policy) {
  return kPausePolicyNames[static_cast<size_t>(policy)];
}

std::optional<PausePolicy> ParsePausePolicy(std::string_view name) {
  for (size_t i = 0; i < kPausePolicyNames.size(); ++i) {
    if (kPausePolicyNames[i] == name) return static_cast<PausePolicy>(i);
  }
  return std::nullopt;
}

std::string_view NormaliseProcedureCode(std::string_view code) {
  while (!code.empty() && code.front() == ' ') code.remove_prefix(1);
  while (!code.empty() && code.back() == ' ') code.remove_suffix(1);
  if (code.size() < kBaseCodeLength || !IsDigit(code[0]) || code[1] != '.') return {};
  for (size_t i = 2; i < kBaseCodeLength; ++i) {
    if (!IsDigit(code[i])) return {};
  }
  if (code.size() > kBaseCodeLength && code[kBaseCodeLength] != '.') return {};
  return code.substr(0, kBaseCodeLength);
}

std::optional<LegalDuration> ProcedureRule::DurationFor(Channel channel) const {
  switch (channel) {
    case Channel::kOnline:
      if (online) return online;
      break;
    case Channel::kPostal:
      if (postal) return postal;
      break;
    case Channel::kInPerson:
    case Channel::kUnknown:
      break;
  }
  return in_person;
}

Result<ProcedureCatalog> ProcedureCatalog::Create(std::vector<ProcedureRule> rules) {
  ProcedureCatalog catalog;
  std::sort(rules.begin(), rules.end(),
            [](const ProcedureRule& a, const ProcedureRule& b) { return a.code < b.code; });
  catalog.index_.reserve(rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    const ProcedureRule& r = rules[i];
    if (NormaliseProcedureCode(r.code) != r.code) {
      return InvalidArgument("procedure '" + r.code + "': not a base code (d.dddddd)");
    }
    if (!ValidDuration(r.in_person) || !ValidDuration(r.online) || !ValidDuration(r.postal)) {
      return InvalidArgument("procedure " + r.code + ": negative or non-finite duration");
    }
    if (!r.in_person && !r.online && !r.postal) {
      return InvalidArgument("procedure " + r.code + ": no duration for any channel");
    }
    if (!catalog.index_.emplace(NumericCode(r.code), static_cast<uint32_t>(i)).second) {
      return InvalidArgument("procedure " + r.code + ": listed twice");
    }
  }
  catalog.rules_ = std::move(rules);
  return catalog;
}

const ProcedureRule* ProcedureCatalog::Find(std::string_view code) const {
  const std::string_view base = NormaliseProcedureCode(code);
  if (base.empty()) return nullptr;
  const auto it = index_.find(NumericCode(base));
  return it == index_.end() ? nullptr : &rules_[it->second];
}

}  // namespace iocstream::rules
