#pragma once
// One configuration path (STYLE practice 3): YAML -> typed structs -> constructors.
//
// A config struct declares its fields once, in a `visit` member:
//
//   template <class V> void visit(V& v) {
//     v.field("max_num_seqs", max_num_seqs, "most sequences in one batch", at_least(1));
//   }
//
// The same declaration drives reading (type checks, range checks, unknown-key rejection,
// with file:line:column), writing the effective configuration (--dump-config) and the
// key reference. Defaults are the struct's member initialisers.
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/units.h"

namespace servesim::config {

// Where a key came from: a file position, or a --set on the command line.
struct Location {
  std::string file;
  int line = -1;    // 1-based; -1 when unknown
  int column = -1;  // 1-based
  std::string cli_override;  // the --set text, when the value came from the command line
  std::string describe() const;
};

// A scenario document: YAML text with --set overrides applied, and where each node came from.
class Document {
 public:
  static Document from_file(const std::string& path);
  static Document from_string(const std::string& text, const std::string& name);

  // Applies "a.b.0.c=value" (value parsed as YAML). A section the document leaves out is
  // first copied from `defaults` (the fully defaulted configuration), so any key can be set.
  void apply_override(const std::string& assignment, const YAML::Node& defaults);

  const YAML::Node& root() const { return root_; }
  const std::string& name() const { return name_; }
  // Whether "a.0.b" is present (in the file or by --set) rather than left to its default:
  // false where a key or index is missing, or a step on the way is a value or null.
  bool given(const std::string& path) const;
  // The --set text that produced `path`, if any.
  const std::string* override_for(const std::string& path) const;

 private:
  YAML::Node root_;
  std::string name_;
  std::map<std::string, std::string> overrides_;
};

// Positions of every key read, so cross-field checks can point at the right line.
class SourceMap {
 public:
  explicit SourceMap(std::string file) : file_(std::move(file)) {}
  void record(const std::string& path, Location loc) { locations_[path] = std::move(loc); }
  Location at(const std::string& path) const;
  // Throws ConfigError "FILE:LINE:COL: key 'path': message. Fix: fix".
  [[noreturn]] void fail(const std::string& path, const std::string& message,
                         const std::string& fix) const;
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::map<std::string, Location> locations_;
};

[[noreturn]] void fail_at(const Location& loc, const std::string& path, const std::string& message,
                          const std::string& fix);

// ---- checks: callables returning an error text (empty when fine) ----
template <class T>
double as_number(const T& v) {
  if constexpr (std::is_same_v<T, Duration>) return v.seconds;
  else return static_cast<double>(v);
}

struct AtLeast {
  double lo;
  template <class T>
  std::string operator()(const T& v) const {
    if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, Duration>)
      return as_number(v) >= lo ? "" : fmt::format("must be at least {:g}", lo);
    else return "";
  }
};
struct GreaterThan {
  double lo;
  template <class T>
  std::string operator()(const T& v) const {
    if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, Duration>)
      return as_number(v) > lo ? "" : fmt::format("must be greater than {:g}", lo);
    else return "";
  }
};
struct Between {
  double lo, hi;
  template <class T>
  std::string operator()(const T& v) const {
    if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, Duration>)
      return (as_number(v) >= lo && as_number(v) <= hi)
                 ? ""
                 : fmt::format("must be between {:g} and {:g}", lo, hi);
    else return "";
  }
};
struct OneOf {
  std::vector<std::string> allowed;
  std::string operator()(const std::string& v) const {
    for (const auto& a : allowed)
      if (a == v) return "";
    return fmt::format("must be one of: {}", fmt::join(allowed, ", "));
  }
};
inline AtLeast at_least(double lo) { return {lo}; }
inline GreaterThan positive() { return {0.0}; }
inline GreaterThan greater_than(double lo) { return {lo}; }
inline Between between(double lo, double hi) { return {lo, hi}; }
inline OneOf one_of(std::vector<std::string> a) { return {std::move(a)}; }

template <class T, class = void>
struct is_visitable : std::false_type {};
struct ProbeVisitor;
template <class T>
struct is_visitable<T, std::void_t<decltype(&T::template visit<ProbeVisitor>)>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T>
struct is_optional_t : std::false_type {};
template <class T>
struct is_optional_t<std::optional<T>> : std::true_type {};

std::string type_name_of_yaml(const YAML::Node& n);
std::string closest_key(const std::string& key, const std::vector<std::string>& known);

// ---- reading ----
class Reader {
 public:
  Reader(YAML::Node node, std::string path, const Document& doc, SourceMap& map);

  template <class T, class... Checks>
  void field(const char* key, T& out, const char* /*doc*/, Checks&&... checks) {
    known_.emplace_back(key);
    std::string path = join(key);
    YAML::Node child = node_.IsMap() ? node_[key] : YAML::Node();
    Location loc = location_of(child, key);
    map_.record(path, loc);
    if (!child.IsDefined()) {
      if constexpr (is_visitable<T>::value) {
        // absent section: its defaults, but nested checks still apply
        Reader sub(YAML::Node(YAML::NodeType::Map), path, *doc_, map_);
        out.visit(sub);
        sub.finish();
      }
      return;
    }
    read_value(child, path, loc, out);
    check_all(path, loc, out, checks...);
  }

  // Rejects keys that no field() call named. Call once after visiting.
  void finish();

  const std::string& path() const { return path_; }

 private:
  std::string join(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  Location location_of(const YAML::Node& child, const std::string& key) const;

  template <class T, class... Checks>
  void check_all(const std::string& path, const Location& loc, const T& v, Checks&&... checks) {
    if constexpr (is_optional_t<T>::value) {
      if (v) check_all(path, loc, *v, checks...);
    } else {
      (check_one(path, loc, v, checks), ...);
    }
  }
  template <class T, class C>
  void check_one(const std::string& path, const Location& loc, const T& v, const C& c) {
    std::string err = c(v);
    if (!err.empty()) fail_at(loc, path, err + describe_value(v), "change the value in range");
  }
  template <class T>
  static std::string describe_value(const T& v) {
    if constexpr (std::is_same_v<T, Duration>) return fmt::format(" (got {})", format_duration(v));
    else if constexpr (std::is_same_v<T, std::string>) return fmt::format(" (got '{}')", v);
    else if constexpr (std::is_arithmetic_v<T>) return fmt::format(" (got {})", v);
    else return "";
  }

  template <class T>
  void read_value(const YAML::Node& n, const std::string& path, const Location& loc, T& out) {
    if constexpr (is_optional_t<T>::value) {
      if (n.IsNull()) {
        out.reset();
        return;
      }
      typename T::value_type v{};
      if constexpr (is_visitable<typename T::value_type>::value) v = out.value_or(v);
      read_value(n, path, loc, v);
      out = std::move(v);
    } else if constexpr (is_visitable<T>::value) {
      if (!n.IsMap() && !n.IsNull())
        fail_at(loc, path, fmt::format("expected a mapping of keys, got {}", type_name_of_yaml(n)),
                "write the section as 'key: value' lines indented under it");
      Reader sub(n.IsNull() ? YAML::Node(YAML::NodeType::Map) : n, path, *doc_, map_);
      out.visit(sub);
      sub.finish();
    } else if constexpr (is_vector<T>::value) {
      if (!n.IsSequence())
        fail_at(loc, path, fmt::format("expected a list, got {}", type_name_of_yaml(n)),
                "write a YAML list, e.g. [a, b] or '- item' lines");
      out.clear();
      for (size_t i = 0; i < n.size(); ++i) {
        typename T::value_type item{};
        std::string ipath = fmt::format("{}.{}", path, i);
        Location iloc = location_of(n[i], std::to_string(i));
        map_.record(ipath, iloc);
        read_value(n[i], ipath, iloc, item);
        out.push_back(std::move(item));
      }
    } else {
      read_scalar(n, path, loc, out);
    }
  }

  void read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, bool& out);
  void read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, int& out);
  void read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, long& out);
  void read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, unsigned& out);
  void read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, unsigned long& out);
  void read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, double& out);
  void read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, std::string& out);
  void read_scalar(const YAML::Node& n, const std::string& path, const Location& loc, Duration& out);
  const std::string& scalar_text(const YAML::Node& n, const std::string& path, const Location& loc,
                                 const char* expected);

  YAML::Node node_;
  std::string path_;
  const Document* doc_;
  SourceMap& map_;
  std::vector<std::string> known_;
};

// ---- writing the effective configuration ----
class Writer {
 public:
  explicit Writer(YAML::Emitter& out, bool comments) : out_(out), comments_(comments) {}

  // A field's doc follows its value on the same line, or its key where the value is a block (a
  // section, a list of sections), whose lines follow the key.
  template <class T, class... Checks>
  void field(const char* key, const T& value, const char* doc, Checks&&...) {
    const bool documented = comments_ && doc && *doc, block = is_block(value);
    out_ << YAML::Key << key;
    if (documented && block) out_ << YAML::Comment(doc);
    out_ << YAML::Value;
    write_value(value);
    if (documented && !block) out_ << YAML::Comment(doc);
  }

 private:
  template <class T>
  static bool is_block(const T& v) {
    if constexpr (is_optional_t<T>::value) return v && is_block(*v);  // null is a scalar
    else if constexpr (is_vector<T>::value) return is_visitable<typename T::value_type>::value;
    else return is_visitable<T>::value;
  }
  template <class T>
  void write_value(const T& v) {
    if constexpr (is_optional_t<T>::value) {
      if (v) write_value(*v);
      else out_ << YAML::Null;
    } else if constexpr (is_visitable<T>::value) {
      out_ << YAML::BeginMap;
      const_cast<T&>(v).visit(*this);
      out_ << YAML::EndMap;
    } else if constexpr (is_vector<T>::value) {
      bool flow = !is_visitable<typename T::value_type>::value;
      if (flow) out_ << YAML::Flow;
      out_ << YAML::BeginSeq;
      for (const auto& item : v) write_value(item);
      out_ << YAML::EndSeq;
    } else if constexpr (std::is_same_v<T, Duration>) {
      out_ << format_duration(v);
    } else if constexpr (std::is_same_v<T, double>) {
      out_ << fmt::format("{:g}", v);
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (v.empty()) out_ << YAML::DoubleQuoted << v;
      else out_ << v;
    } else {
      out_ << v;
    }
  }

  YAML::Emitter& out_;
  bool comments_;
};

// The ranges a visitable struct declares in visit(), checked on values built without a document
// (a model read from a config.json): the first field out of range as "key must be at least 1
// (got 0)", empty if none is.
class RangeChecker {
 public:
  template <class T, class... Checks>
  void field(const char* key, T& value, const char* /*doc*/, Checks&&... checks) {
    if (!problem_.empty()) return;
    if constexpr (is_visitable<T>::value) {
      RangeChecker sub;
      value.visit(sub);
      if (!sub.problem_.empty()) problem_ = fmt::format("{}.{}", key, sub.problem_);
    } else if constexpr (is_optional_t<T>::value) {
      if (value) (check(key, *value, checks), ...);
    } else {
      (check(key, value, checks), ...);
    }
  }
  const std::string& problem() const { return problem_; }

 private:
  template <class T, class C>
  void check(const char* key, const T& value, const C& c) {
    if (!problem_.empty()) return;
    if (std::string err = c(value); !err.empty()) {
      if constexpr (std::is_arithmetic_v<T>) problem_ = fmt::format("{} {} (got {})", key, err, value);
      else problem_ = fmt::format("{} {}", key, err);
    }
  }
  std::string problem_;
};

template <class T>
std::string range_problem(const T& value) {
  RangeChecker c;
  const_cast<T&>(value).visit(c);  // visit() only reads through a checker
  return c.problem();
}

// Reads a whole visitable struct from a document root, rejecting unknown keys.
template <class T>
T read_root(const Document& doc, SourceMap& map) {
  T out{};
  if (!doc.root().IsMap() && !doc.root().IsNull())
    fail_at(Location{doc.name(), 1, 1, {}}, "", "a scenario must be a YAML mapping of keys",
            "start the file with top-level keys such as 'workload:'");
  Reader r(doc.root().IsNull() ? YAML::Node(YAML::NodeType::Map) : doc.root(), "", doc, map);
  out.visit(r);
  r.finish();
  return out;
}

template <class T>
std::string write_yaml(const T& value, bool comments) {
  YAML::Emitter out;
  out.SetIndent(2);
  Writer w(out, comments);
  out << YAML::BeginMap;
  const_cast<T&>(value).visit(w);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace servesim::config
