#pragma once
// Writing JSON by hand: string escapes and numbers that read back to the same double.
#include <string>
#include <string_view>

namespace servesim {

std::string json_escape(std::string_view s);  // the inside of a JSON string literal
// The shortest text that parses back to exactly `v`; null for NaN and infinities (JSON has none).
std::string json_number(double v);

}  // namespace servesim
