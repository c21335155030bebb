#pragma once
// One JSONL row as a JSON object, parsed in place through reusable buffers (the JSONL trace
// formats share it): a row that is not valid JSON, or not an object, gets the error a bad line
// reports.
#include <fmt/format.h>
#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace servesim {

class JsonLine {
 public:
  // The row's object in `obj` (valid until the next call), or false with `error` set.
  bool parse(std::string_view line, simdjson::dom::object& obj, std::string& error) {
    padded_.assign(line.begin(), line.end());
    padded_.resize(line.size() + simdjson::SIMDJSON_PADDING);
    simdjson::dom::element doc;
    if (auto err = parser_.parse(reinterpret_cast<const uint8_t*>(padded_.data()), line.size(), false).get(doc)) {
      error = fmt::format("not valid JSON ({}): '{}'", simdjson::error_message(err), quote_text(line));
      return false;
    }
    if (doc.get_object().get(obj)) {
      error = "expected a JSON object";
      return false;
    }
    return true;
  }

 private:
  simdjson::dom::parser parser_;
  std::vector<char> padded_;
};

}  // namespace servesim
