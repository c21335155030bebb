#include "core/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unordered_map>
#include <unordered_set>
#include <limits>
#include <sstream>

namespace servesim::config {

std::string Location::describe() const {
  if (!cli_override.empty()) return fmt::format("--set {}", cli_override);
  if (line > 0) return fmt::format("{}:{}:{}", file, line, column);
  return file;
}

void fail_at(const Location& loc, const std::string& path, const std::string& message,
             const std::string& fix) {
  std::string where = loc.describe();
  std::string key = path.empty() ? "" : fmt::format(" key '{}':", path);
  throw ConfigError(fmt::format("{}:{} {}.{}", where, key, message,
                                fix.empty() ? "" : fmt::format(" Fix: {}.", fix)));
}

Location SourceMap::at(const std::string& path) const {
  auto it = locations_.find(path);
  if (it != locations_.end()) return it->second;
  // fall back to the closest recorded parent section
  std::string p = path;
  while (true) {
    auto dot = p.rfind('.');
    if (dot == std::string::npos) break;
    p = p.substr(0, dot);
    it = locations_.find(p);
    if (it != locations_.end() && it->second.line > 0) return it->second;
  }
  return Location{file_, -1, -1, {}};
}

void SourceMap::fail(const std::string& path, const std::string& message,
                     const std::string& fix) const {
  fail_at(at(path), path, message, fix);
}

namespace {
// yaml-cpp keeps both entries of a repeated key and a lookup sees the first: a silent wrong value.
// An alias is the node it names, so each node is checked once (by its position in the text):
// nested aliases (a "billion laughs" file) cost their size in the text, not their expansion.
void reject_duplicate_keys(const YAML::Node& n, const std::string& name, std::unordered_set<int>& seen_nodes) {
  if (!n.IsMap() && !n.IsSequence()) return;
  if (n.Mark().pos >= 0 && !seen_nodes.insert(n.Mark().pos).second) return;
  if (n.IsSequence()) {
    for (const auto& item : n) reject_duplicate_keys(item, name, seen_nodes);
    return;
  }
  std::unordered_map<std::string, YAML::Mark> seen;
  for (const auto& kv : n) {
    if (!kv.first.IsScalar())  // "? [a, b]: x", "? a: b", ": x": no scenario key looks like that
      throw ConfigError(fmt::format("{}:{}:{}: a key must be a plain name, not {}. Fix: write 'name: value'", name,
                                    kv.first.Mark().line + 1, kv.first.Mark().column + 1,
                                    kv.first.IsNull() ? "empty" : type_name_of_yaml(kv.first)));
    const auto [it, fresh] = seen.emplace(kv.first.Scalar(), kv.first.Mark());
    if (!fresh)
      throw ConfigError(fmt::format("{}:{}:{}: key '{}' appears twice in one mapping (first at line {}). Fix: keep "
                                    "one of them",
                                    name, kv.first.Mark().line + 1, kv.first.Mark().column + 1,
                                    quote_text(kv.first.Scalar()), it->second.line + 1));
    reject_duplicate_keys(kv.second, name, seen_nodes);
  }
}
void reject_duplicate_keys(const YAML::Node& n, const std::string& name) {
  std::unordered_set<int> seen_nodes;
  reject_duplicate_keys(n, name, seen_nodes);
}

// A quote opens a quoted scalar only where a scalar starts (an apostrophe inside plain text, as in
// "it's", does not).
bool starts_scalar(const std::string& text, std::size_t i) {
  while (i > 0 && (text[i - 1] == ' ' || text[i - 1] == '\t')) --i;
  if (i == 0) return true;
  const char p = text[i - 1];
  return p == '\n' || p == ':' || p == '-' || p == '?' || p == '[' || p == '{' || p == ',';
}

// An upper bound on how deep the text nests: flow brackets outside quotes and comments, and per
// line its indentation plus its block indicators ("- - - x" nests three times). yaml-cpp parses
// recursively, so nesting far beyond any scenario's would overflow its stack.
std::size_t nesting_bound(const std::string& text) {
  std::size_t depth = 0, worst = 0;
  char quote = 0;
  bool comment = false, line_start = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (line_start && !quote) {  // indentation, then a leading run of "- ", "? ", ": "
      std::size_t j = i, level = 0;
      while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j, ++level;
      while (j + 1 < text.size() && (text[j] == '-' || text[j] == '?' || text[j] == ':') &&
             (text[j + 1] == ' ' || text[j + 1] == '\t')) {
        level += 2;
        j += 2;
        while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j, ++level;
      }
      worst = std::max(worst, level + depth);
      line_start = false;
    }
    const char c = text[i];
    if (c == '\n') {
      comment = false;
      line_start = true;
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
      continue;
    }
    if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t' || text[i - 1] == '\n')) comment = true;
    else if ((c == '"' || c == '\'') && starts_scalar(text, i)) quote = c;
    else if (c == '[' || c == '{') worst = std::max(worst, ++depth);
    else if ((c == ']' || c == '}') && depth > 0) --depth;
  }
  return worst;
}

// True when the text holds something besides blank lines, comments and document markers.
bool has_content(const std::string& text) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::string t = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
    if (t != "---" && t != "..." && t != "~" && t != "null" && t != "{}") return true;
  }
  return false;
}
}  // namespace

Document Document::from_string(const std::string& text, const std::string& name) {
  Document d;
  d.name_ = name;
  constexpr std::size_t kMaxNesting = 1000;
  if (nesting_bound(text) > kMaxNesting)
    throw ConfigError(fmt::format("{}: the YAML nests more than {} levels deep. Fix: a scenario needs a few levels; "
                                  "check for runaway brackets or list markers",
                                  name, kMaxNesting));
  try {
    d.root_ = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(fmt::format("{}:{}:{}: malformed YAML: {}. Fix: check indentation, colons and quotes on that line.",
                                  name, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (d.root_.IsDefined() && !d.root_.IsNull() && !d.root_.IsMap())
    throw ConfigError(fmt::format("{}:{}:{}: a scenario is a mapping of keys (name:, workload:, pools:, ...), but the "
                                  "file holds {}. Fix: write 'key: value' lines",
                                  name, d.root_.Mark().line + 1, d.root_.Mark().column + 1,
                                  type_name_of_yaml(d.root_)));
  if ((!d.root_.IsDefined() || d.root_.IsNull()) && has_content(text))
    throw ConfigError(fmt::format("{}: the file is not a YAML mapping of keys (it parses as empty, e.g. a stray ',' "
                                  "or '-'). Fix: write 'key: value' lines",
                                  name));
  reject_duplicate_keys(d.root_, name);
  return d;
}

Document Document::from_file(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st))
    throw ConfigError(fmt::format("{}: cannot open scenario file ({}). Fix: check the path.", path,
                                  ec ? ec.message() : "no such file"));
  if (std::filesystem::is_directory(st))
    throw ConfigError(fmt::format("{}: is a directory, not a scenario file. Fix: name a YAML file in it, e.g. {}/{}",
                                  path, path.ends_with("/") ? path.substr(0, path.size() - 1) : path, "quickstart.yaml"));
  if (!std::filesystem::is_regular_file(st))
    throw ConfigError(fmt::format("{}: is not a regular file. Fix: name a scenario YAML file", path));
  if (std::filesystem::file_size(path, ec) > (64u << 20))
    throw ConfigError(fmt::format("{}: over 64 MiB: not a scenario file. Fix: check the path", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot open scenario file. Fix: check the path.", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return from_string(ss.str(), path);
}

const std::string* Document::override_for(const std::string& path) const {
  auto it = overrides_.find(path);
  return it == overrides_.end() ? nullptr : &it->second;
}

namespace {
// yaml-cpp nodes are handles: assigning one to another rewrites the tree, and a const lookup
// of a missing key yields a node that throws on any type query. So: recursion, no assignment,
// IsDefined before each type query.
bool given_below(const YAML::Node& node, const std::vector<std::string>& parts, size_t i) {
  if (!node.IsDefined()) return false;
  if (i == parts.size()) return true;
  if (node.IsMap()) return given_below(node[parts[i]], parts, i + 1);
  if (!node.IsSequence()) return false;
  char* end = nullptr;
  const unsigned long index = std::strtoul(parts[i].c_str(), &end, 10);
  if (parts[i].empty() || *end != '\0' || index >= node.size()) return false;
  return given_below(node[index], parts, i + 1);
}
}  // namespace

bool Document::given(const std::string& path) const {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  return given_below(root_, parts, 0);
}

void Document::apply_override(const std::string& assignment, const YAML::Node& defaults) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(fmt::format("--set {}: expected key.path=value, e.g. --set workload.max_requests=100", assignment));
  std::string path = assignment.substr(0, eq), value_text = assignment.substr(eq + 1);
  YAML::Node value;
  try {
    value = YAML::Load(value_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("--set {}: the value is not valid YAML ({})", assignment, e.msg));
  }
  reject_duplicate_keys(value, "--set " + assignment);
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string p; std::getline(ss, p, '.');) {
    if (p.empty()) throw ConfigError(fmt::format("--set {}: empty key segment in '{}'", assignment, path));
    parts.push_back(p);
  }
  if (!root_.IsDefined() || root_.IsNull()) root_ = YAML::Node(YAML::NodeType::Map);
  // yaml-cpp nodes are handles: walk with copies that alias the tree.
  std::vector<YAML::Node> chain{root_};
  YAML::Node def = defaults;  // the same position in the defaulted tree (may be undefined)
  std::string walked;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node cur = chain.back();
    walked += (walked.empty() ? "" : ".") + parts[i];
    YAML::Node def_next;
    if (def.IsDefined() && def.IsMap()) def_next = def[parts[i]];
    else if (def.IsDefined() && def.IsSequence()) {
      char* e = nullptr;
      unsigned long k = std::strtoul(parts[i].c_str(), &e, 10);
      if (*e == '\0' && k < def.size()) def_next = def[k];
    }
    YAML::Node next;
    if (cur.IsSequence()) {
      char* end = nullptr;
      unsigned long idx = std::strtoul(parts[i].c_str(), &end, 10);
      if (*end != '\0' || idx >= cur.size())
        throw ConfigError(fmt::format("--set {}: '{}' is a list of {} items; use an index 0..{}",
                                      assignment, walked.substr(0, walked.rfind('.')), cur.size(),
                                      cur.size() == 0 ? 0 : cur.size() - 1));
      next = cur[idx];
    } else {
      if (!cur.IsMap() && !cur.IsNull())
        throw ConfigError(fmt::format("--set {}: '{}' is a value, not a section", assignment, walked));
      next = cur[parts[i]];
      if (!next.IsDefined() || next.IsNull()) {
        cur[parts[i]] = def_next.IsDefined() ? YAML::Clone(def_next) : YAML::Node(YAML::NodeType::Map);
        next = cur[parts[i]];
      }
    }
    chain.push_back(next);
    def = def_next;
  }
  YAML::Node parent = chain.back();
  const std::string& last = parts.back();
  if (parent.IsSequence()) {
    char* end = nullptr;
    unsigned long idx = std::strtoul(last.c_str(), &end, 10);
    if (*end != '\0' || idx >= parent.size())
      throw ConfigError(fmt::format("--set {}: index '{}' out of range (list of {})", assignment, last, parent.size()));
    parent[idx] = value;
  } else {
    parent[last] = value;
  }
  overrides_[path] = assignment;
}

std::string type_name_of_yaml(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing (null)";
    case YAML::NodeType::Scalar: return fmt::format("'{}'", n.Scalar());
    default: return "an undefined value";
  }
}

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string closest_key(const std::string& key, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const auto& k : known) {
    size_t d = edit_distance(key, k);
    if (d < best_d) best_d = d, best = k;
  }
  return best_d <= std::max<size_t>(2, key.size() / 3) ? best : "";
}

Reader::Reader(YAML::Node node, std::string path, const Document& doc, SourceMap& map)
    : node_(std::move(node)), path_(std::move(path)), doc_(&doc), map_(map) {}

Location Reader::location_of(const YAML::Node& child, const std::string& key) const {
  std::string full = path_.empty() ? key : path_ + "." + key;
  Location loc{doc_->name(), -1, -1, {}};
  // an override of this key or of any parent section wins
  for (std::string p = full;;) {
    if (const std::string* o = doc_->override_for(p)) {
      loc.cli_override = *o;
      return loc;
    }
    auto dot = p.rfind('.');
    if (dot == std::string::npos) break;
    p = p.substr(0, dot);
  }
  if (child.IsDefined()) {
    auto m = child.Mark();
    if (m.line >= 0) loc.line = m.line + 1, loc.column = m.column + 1;
  }
  if (loc.line < 0) {
    auto m = node_.Mark();
    if (m.line >= 0) loc.line = m.line + 1, loc.column = m.column + 1;
  }
  return loc;
}

void Reader::finish() {
  if (!node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) {
      Location loc{doc_->name(), it->first.Mark().line + 1, it->first.Mark().column + 1, {}};
      fail_at(loc, path_, fmt::format("a key must be a plain name, not {}", type_name_of_yaml(it->first)),
              "write 'name: value'");
    }
    std::string key = it->first.Scalar();
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    Location loc{doc_->name(), -1, -1, {}};
    auto m = it->first.Mark();
    if (m.line >= 0) loc.line = m.line + 1, loc.column = m.column + 1;
    std::string full = path_.empty() ? key : path_ + "." + key;
    if (const std::string* o = doc_->override_for(full)) loc.cli_override = *o;
    std::string guess = closest_key(key, known_);
    std::string where = path_.empty() ? "at the top level" : fmt::format("in '{}'", path_);
    fail_at(loc, full,
            fmt::format("unknown key {}{}", where,
                        guess.empty() ? "" : fmt::format(" (did you mean '{}'?)", guess)),
            fmt::format("use one of: {}", fmt::join(known_, ", ")));
  }
}

const std::string& Reader::scalar_text(const YAML::Node& n, const std::string& path,
                                       const Location& loc, const char* expected) {
  if (!n.IsScalar())
    fail_at(loc, path, fmt::format("expected {}, got {}", expected, type_name_of_yaml(n)),
            fmt::format("write {}", expected));
  return n.Scalar();
}

void Reader::read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, bool& out) {
  const std::string& s = scalar_text(n, path, loc, "true or false");
  if (s == "true" || s == "True" || s == "yes" || s == "on") out = true;
  else if (s == "false" || s == "False" || s == "no" || s == "off") out = false;
  else fail_at(loc, path, fmt::format("expected true or false, got '{}'", s), "write true or false");
}

namespace {
template <class Int>
bool parse_int(const std::string& s, Int& out) {
  if (s.empty()) return false;
  // accept 1_000_000 and 1e6 when exact, which YAML users write for big counts
  std::string t;
  for (char c : s)
    if (c != '_') t.push_back(c);
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(t.c_str(), &end, 10);
  if (*end != '\0' || errno) {
    double d = std::strtod(t.c_str(), &end);
    if (*end != '\0' || !std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9e18) return false;
    v = static_cast<long long>(d);
  }
  if (v < static_cast<long long>(std::numeric_limits<Int>::min()) ||
      (v > 0 && static_cast<unsigned long long>(v) > std::numeric_limits<Int>::max()))
    return false;
  out = static_cast<Int>(v);
  return true;
}
}  // namespace

#define SERVESIM_READ_INT(T)                                                                    \
  void Reader::read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, \
                           T& out) {                                                            \
    const std::string& s = scalar_text(n, path, loc, "a whole number");                        \
    if (!parse_int(s, out))                                                                     \
      fail_at(loc, path, fmt::format("expected a whole number, got '{}'", s),                   \
              "write an integer such as 256 (no fractions, no units)");                         \
  }
SERVESIM_READ_INT(int)
SERVESIM_READ_INT(long)
SERVESIM_READ_INT(unsigned)
SERVESIM_READ_INT(unsigned long)
#undef SERVESIM_READ_INT

void Reader::read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, double& out) {
  const std::string& s = scalar_text(n, path, loc, "a number");
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v))
    fail_at(loc, path, fmt::format("expected a finite number, got '{}'", s), "write a number such as 1.5");
  out = v;
}

void Reader::read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, std::string& out) {
  out = scalar_text(n, path, loc, "a text value");
}

void Reader::read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, Duration& out) {
  const std::string& s = scalar_text(n, path, loc, "a duration such as 500ms or 2s");
  std::string why;
  auto d = parse_duration(s, &why);
  if (!d) fail_at(loc, path, why, "write a number with a unit: ns, us, ms, s, m, h, d");
  out = *d;
}

}  // namespace servesim::config
