#include "core/version_order.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace servesim {

namespace {

constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kAfterAll = std::numeric_limits<std::int64_t>::max();

// The parts PEP 440 compares: release numbers, pre-release (phase, number), post, dev.
struct Version {
  std::vector<std::int64_t> release;
  std::int64_t pre_phase = kNone, pre = 0, post = kNone, dev = kNone;
};

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool done() const { return i_ == s_.size(); }
  std::optional<std::int64_t> number() {
    size_t j = i_;
    std::int64_t v = 0;
    while (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j]))) {
      if (v > (kAfterAll - 9) / 10) return std::nullopt;  // no version part is this long
      v = v * 10 + (s_[j++] - '0');
    }
    if (j == i_) return std::nullopt;
    i_ = j;
    return v;
  }
  // One of `words` (case-insensitive) after an optional separator; its index, or -1.
  int word(std::initializer_list<std::string_view> words) {
    size_t j = i_;
    if (j < s_.size() && (s_[j] == '.' || s_[j] == '-' || s_[j] == '_')) ++j;
    int index = 0;
    for (std::string_view w : words) {
      if (s_.size() - j >= w.size() &&
          std::equal(w.begin(), w.end(), s_.begin() + static_cast<std::ptrdiff_t>(j),
                     [](char x, char y) { return x == std::tolower(static_cast<unsigned char>(y)); })) {
        i_ = j + w.size();
        return index;
      }
      ++index;
    }
    return -1;
  }
  // A number after an optional separator (0 when absent, as PEP 440 reads "rc" as "rc0").
  std::int64_t optional_number() {
    const size_t j = i_;
    if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == '-' || s_[i_] == '_')) ++i_;
    if (auto n = number()) return *n;
    i_ = j;
    return 0;
  }
  bool dot_digit() {
    if (i_ + 1 < s_.size() && s_[i_] == '.' && std::isdigit(static_cast<unsigned char>(s_[i_ + 1]))) return ++i_, true;
    return false;
  }
  bool skip(char c) {
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

std::optional<Version> parse(std::string_view s) {
  Version v;
  Reader r(s);
  r.skip('v');
  for (;;) {
    auto n = r.number();
    if (!n) return std::nullopt;
    v.release.push_back(*n);
    if (!r.dot_digit()) break;  // a dot before a word starts a suffix (".post2", ".dev1")
  }
  while (v.release.size() > 1 && v.release.back() == 0) v.release.pop_back();  // 1.0 == 1.0.0
  // longer spellings first, so "alpha" is not read as "a" followed by "lpha"
  if (int p = r.word({"alpha", "a", "beta", "b", "preview", "pre", "rc", "c"}); p >= 0) {
    v.pre_phase = p <= 1 ? 0 : p <= 3 ? 1 : 2;  // a < b < rc
    v.pre = r.optional_number();
  }
  if (r.word({"post", "rev", "r"}) >= 0) v.post = r.optional_number();
  if (r.word({"dev"}) >= 0) v.dev = r.optional_number();
  if (!r.done()) return std::nullopt;
  return v;
}

// PEP 440's sort key: a dev release with no pre or post release comes before its pre-releases;
// a release with none of them after them.
auto key(const Version& v) {
  const std::int64_t phase = v.pre_phase != kNone ? v.pre_phase
                             : (v.dev != kNone && v.post == kNone) ? kNone
                                                                   : kAfterAll;
  return std::make_tuple(v.release, phase, v.pre_phase != kNone ? v.pre : 0, v.post, v.dev == kNone ? kAfterAll : v.dev);
}

}  // namespace

bool version_less(std::string_view a, std::string_view b) {
  const std::optional<Version> va = parse(a), vb = parse(b);
  if (!va || !vb) return !va && vb ? true : va && !vb ? false : a < b;
  return key(*va) < key(*vb);
}

}  // namespace servesim
