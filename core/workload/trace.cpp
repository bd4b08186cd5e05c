#include "core/workload/trace.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>

#include "core/base/rng.h"
#include "core/base/strings.h"
#include "core/text/json_line.h"
#include "core/text/text_file.h"

namespace tinyserve {

namespace {

// Content-id domains, so that trace content never meets a synthetic workload's.
constexpr uint64_t kAzureContent = 0x617a7572655f7271ull;
constexpr uint64_t kMooncakeBlockContent = 0x6d6f6f6e5f626c6bull;
constexpr uint64_t kMooncakeTailContent = 0x6d6f6f6e5f746c6cull;
constexpr int32_t kMaxTokens = std::numeric_limits<int32_t>::max();

void check_options(const std::string& path, const TraceOptions& options) {
  if (options.max_requests < 0) {
    throw_input_error(path, 0,
                      cat("max_requests: expected >= 0 (0: all), found ", options.max_requests));
  }
  if (!(options.time_scale > 0.0 && std::isfinite(options.time_scale))) {
    throw_input_error(path, 0,
                      cat("time_scale: expected a number > 0, found ", options.time_scale));
  }
}

// The lines of a text, numbered from 1, without their "\n" or "\r\n".
class Lines {
 public:
  explicit Lines(std::string_view text) : rest_(text) {}

  bool next(std::string_view& line) {
    if (done_) return false;
    ++number_;
    const size_t end = rest_.find('\n');
    if (end == std::string_view::npos) {
      line = rest_;
      done_ = true;
    } else {
      line = rest_.substr(0, end);
      rest_.remove_prefix(end + 1);
      if (rest_.empty()) done_ = true;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return true;
  }
  int64_t number() const { return number_; }

 private:
  std::string_view rest_;
  int64_t number_ = 0;
  bool done_ = false;
};

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// ---- Azure CSV -----------------------------------------------------------------------------

constexpr const char* kAzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens";

// A token count >= 1 that fits in int32.
int32_t parse_count(std::string_view field, const char* name, const std::string& path,
                    int64_t line) {
  auto fail = [&](const std::string& found) {
    throw_input_error(path, line,
                      cat(name, ": expected a whole number of tokens >= 1, found ", found));
  };
  if (field.empty()) fail("nothing");
  if (field.front() == '-' && all_digits(field.substr(1))) {
    fail(cat("a negative number ", quoted(field)));
  }
  if (!all_digits(field)) fail(quoted(field));
  int64_t value = 0;
  for (char c : field) {
    value = value * 10 + (c - '0');
    if (value > kMaxTokens) fail(cat(quoted(field), ", which is above ", kMaxTokens));
  }
  if (value == 0) fail("0");
  return static_cast<int32_t>(value);
}

int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// A wall-clock time as seconds since 1970-01-01 and nanoseconds, kept apart: nanoseconds alone
// overflow int64 past the year 2262.
struct Timestamp {
  int64_t seconds = 0;
  int64_t nanos = 0;
  friend auto operator<=>(const Timestamp&, const Timestamp&) = default;
  double seconds_since(const Timestamp& first) const {
    return static_cast<double>(seconds - first.seconds) +
           static_cast<double>(nanos - first.nanos) * 1e-9;
  }
};

// "YYYY-MM-DD HH:MM:SS[.fraction]" (or a 'T' between date and time); false when malformed or out
// of range. The fraction has 1 to 9 digits.
bool parse_timestamp(std::string_view s, Timestamp& t) {
  auto digits = [&](size_t at, size_t count, int64_t& out) {
    if (at + count > s.size()) return false;
    out = 0;
    for (size_t i = at; i < at + count; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int64_t year, month, day, hour, minute, second;
  if (s.size() < 19 || !digits(0, 4, year) || s[4] != '-' || !digits(5, 2, month) || s[7] != '-' ||
      !digits(8, 2, day) || (s[10] != ' ' && s[10] != 'T') || !digits(11, 2, hour) ||
      s[13] != ':' || !digits(14, 2, minute) || s[16] != ':' || !digits(17, 2, second)) {
    return false;
  }
  static constexpr std::array<int64_t, 12> kDays = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDays[static_cast<size_t>(month - 1)] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 59) {
    return false;
  }
  int64_t fraction_ns = 0;
  if (s.size() > 19) {
    const size_t count = s.size() - 20;
    if (s[19] != '.' || count < 1 || count > 9 || !digits(20, count, fraction_ns)) return false;
    for (size_t i = count; i < 9; ++i) fraction_ns *= 10;
  }
  t.seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  t.nanos = fraction_ns;
  return true;
}

struct AzureColumns {
  int timestamp = -1;
  int context = -1;
  int generated = -1;
};

AzureColumns parse_azure_header(std::string_view header, const std::string& path, int64_t line) {
  auto fail = [&] {
    throw_input_error(path, line,
                      cat("expected the header ", kAzureHeader, ", found ", quoted(header, 80)));
  };
  AzureColumns columns;
  int index = 0;
  for (size_t start = 0;; ++index) {
    const size_t comma = header.find(',', start);
    const std::string name = ascii_lower(trim(header.substr(start, comma - start)));
    int* column = name == "timestamp"         ? &columns.timestamp
                  : name == "contexttokens"   ? &columns.context
                  : name == "generatedtokens" ? &columns.generated
                                              : nullptr;
    if (column == nullptr || *column >= 0 || index > 2) fail();
    *column = index;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (index != 2) fail();
  return columns;
}

}  // namespace

std::vector<RequestSpec> read_azure_trace(const std::string& path, const TraceOptions& options,
                                          TraceStats* stats) {
  check_options(path, options);
  return parse_azure_trace(read_text_file(path), path, options, stats);
}

std::vector<RequestSpec> parse_azure_trace(std::string_view text, const std::string& path,
                                           const TraceOptions& options, TraceStats* stats) {
  check_options(path, options);
  Lines lines(without_bom(text));
  std::string_view line;
  while (lines.next(line) && is_blank(line)) {
  }
  if (is_blank(line)) {
    throw_input_error(path, 0, cat("empty file, expected the header ", kAzureHeader));
  }
  const AzureColumns columns = parse_azure_header(line, path, lines.number());

  std::vector<RequestSpec> requests;
  requests.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  TraceStats counted;
  Timestamp first;
  Timestamp previous;
  std::string_view previous_stamp;
  while ((options.max_requests == 0 || std::ssize(requests) < options.max_requests) &&
         lines.next(line)) {
    if (is_blank(line)) continue;
    const int64_t number = lines.number();
    std::array<std::string_view, 3> fields;
    size_t count = 0;
    for (size_t start = 0;; ++count) {
      const size_t comma = line.find(',', start);
      if (count < fields.size()) fields[count] = trim(line.substr(start, comma - start));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (++count != fields.size()) {
      throw_input_error(path, number,
                        cat("expected 3 comma-separated fields (", kAzureHeader, "), found ", count,
                            ": ", quoted(line, 80)));
    }
    const std::string_view stamp = fields[static_cast<size_t>(columns.timestamp)];
    Timestamp t;
    if (!parse_timestamp(stamp, t)) {
      throw_input_error(path, number,
                        cat("TIMESTAMP: expected a date and time as YYYY-MM-DD HH:MM:SS.fraction, "
                            "found ",
                            quoted(stamp)));
    }
    if (requests.empty()) {
      first = t;
    } else if (t < previous) {
      throw_input_error(path, number,
                        cat("TIMESTAMP: expected times in non-decreasing order, found ",
                            quoted(stamp), " after ", quoted(previous_stamp)));
    }
    previous = t;
    previous_stamp = stamp;

    RequestSpec r;
    r.id = std::ssize(requests);
    r.arrival = t.seconds_since(first) * options.time_scale;
    const int32_t prompt_len =
        parse_count(fields[static_cast<size_t>(columns.context)], "ContextTokens", path, number);
    r.output_len = parse_count(fields[static_cast<size_t>(columns.generated)], "GeneratedTokens",
                               path, number);
    r.prompt.push_back({hash_combine(kAzureContent, static_cast<uint64_t>(r.id)), prompt_len});
    requests.push_back(std::move(r));
  }
  if (requests.empty()) {
    throw_input_error(path, 0, cat("no rows after the header, expected rows of ", kAzureHeader));
  }
  counted.requests = std::ssize(requests);
  if (stats != nullptr) *stats = counted;
  return requests;
}

// ---- Mooncake JSONL --------------------------------------------------------------------------

namespace {

// An integer value in [min, max].
uint64_t whole_number(JsonLine& json, const char* key, const char* what, uint64_t min,
                      uint64_t max) {
  auto fail = [&](const std::string& found) {
    json.fail(cat(key, ": expected ", what, ", found ", found));
  };
  json.skip_ws();
  const char c = json.peek();
  if (c != '-' && (c < '0' || c > '9')) fail(json.found());
  const JsonLine::Number n = json.number();
  if (!n.integral) fail(cat("the fraction ", n.text));
  if (n.negative) fail(cat("the negative number ", n.text));
  uint64_t value = 0;
  const auto result = std::from_chars(n.text.data(), n.text.data() + n.text.size(), value);
  if (result.ec != std::errc() || value > max) fail(cat(n.text, ", which is too large"));
  if (value < min) fail(std::string(n.text));
  return value;
}

double milliseconds(JsonLine& json) {
  auto fail = [&](const std::string& found) {
    json.fail(cat("timestamp: expected milliseconds >= 0, found ", found));
  };
  json.skip_ws();
  const char c = json.peek();
  if (c != '-' && (c < '0' || c > '9')) fail(json.found());
  const JsonLine::Number n = json.number();
  double value = 0.0;
  const auto result = std::from_chars(n.text.data(), n.text.data() + n.text.size(), value);
  if (result.ec != std::errc() || !std::isfinite(value) || value > 1e15) {
    fail(cat(n.text, ", which is out of range"));
  }
  if (n.negative) fail(cat("the negative number ", n.text));
  return value;
}

struct MooncakeRow {
  double timestamp = 0.0;
  int32_t input_length = 0;
  int32_t output_length = 0;
  std::vector<uint64_t> hash_ids;
};

void parse_mooncake_line(std::string_view text, const std::string& path, int64_t line,
                         MooncakeRow& row) {
  JsonLine json(text, path, line);
  json.expect('{', "a JSON object '{'");
  enum Key { kTimestamp, kInput, kOutput, kHashIds, kNumKeys };
  static constexpr std::array<const char*, kNumKeys> kNames = {"timestamp", "input_length",
                                                               "output_length", "hash_ids"};
  std::array<bool, kNumKeys> seen{};
  row.hash_ids.clear();
  if (!json.consume('}')) {
    do {
      const std::string_view key = json.string();
      json.expect(':', "':' after a key");
      int k = 0;
      while (k < kNumKeys && key != kNames[static_cast<size_t>(k)]) ++k;
      if (k == kNumKeys) {
        json.skip_value();
        continue;
      }
      if (seen[static_cast<size_t>(k)]) json.fail(cat("duplicate key \"", key, "\""));
      seen[static_cast<size_t>(k)] = true;
      switch (k) {
        case kTimestamp:
          row.timestamp = milliseconds(json);
          break;
        case kInput:
          row.input_length = static_cast<int32_t>(
              whole_number(json, "input_length", "a whole number of tokens >= 1", 1, kMaxTokens));
          break;
        case kOutput:
          row.output_length = static_cast<int32_t>(
              whole_number(json, "output_length", "a whole number of tokens >= 1", 1, kMaxTokens));
          break;
        default:
          json.skip_ws();
          if (json.peek() != '[') {
            json.fail(cat("hash_ids: expected an array of whole numbers, found ", json.found()));
          }
          json.expect('[', "'['");
          if (!json.consume(']')) {
            do {
              row.hash_ids.push_back(whole_number(json, "hash_ids", "a whole number >= 0", 0,
                                                  std::numeric_limits<uint64_t>::max()));
            } while (json.consume(','));
            json.expect(']', "',' or ']' in hash_ids");
          }
      }
    } while (json.consume(','));
    json.expect('}', "',' or '}'");
  }
  json.skip_ws();
  if (!json.at_end())
    json.fail(cat("expected the end of the line after the object, found ", json.found()));
  for (int k = 0; k < kNumKeys; ++k) {
    if (!seen[static_cast<size_t>(k)]) {
      throw_input_error(path, line,
                        cat("missing key \"", kNames[static_cast<size_t>(k)],
                            "\", expected timestamp, input_length, output_length and hash_ids"));
    }
  }
}

}  // namespace

std::vector<RequestSpec> read_mooncake_trace(const std::string& path, const TraceOptions& options,
                                             TraceStats* stats) {
  check_options(path, options);
  return parse_mooncake_trace(read_text_file(path), path, options, stats);
}

std::vector<RequestSpec> parse_mooncake_trace(std::string_view text, const std::string& path,
                                              const TraceOptions& options, TraceStats* stats) {
  check_options(path, options);
  std::vector<RequestSpec> requests;
  requests.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  TraceStats counted;
  MooncakeRow row;
  double first_ms = 0.0;
  double previous_ms = 0.0;
  Lines lines(without_bom(text));
  std::string_view line;
  while ((options.max_requests == 0 || std::ssize(requests) < options.max_requests) &&
         lines.next(line)) {
    if (is_blank(line)) continue;
    const int64_t number = lines.number();
    parse_mooncake_line(line, path, number, row);
    if (requests.empty()) {
      first_ms = row.timestamp;
    } else if (row.timestamp < previous_ms) {
      throw_input_error(path, number,
                        cat("timestamp: expected times in non-decreasing order, found ",
                            row.timestamp, " ms after ", previous_ms, " ms"));
    }
    previous_ms = row.timestamp;

    RequestSpec r;
    r.id = std::ssize(requests);
    r.arrival = (row.timestamp - first_ms) * 1e-3 * options.time_scale;
    r.output_len = row.output_length;
    const int64_t covered = int64_t{kMooncakeBlockTokens} * std::ssize(row.hash_ids);
    if (row.input_length > covered || row.input_length <= covered - kMooncakeBlockTokens) {
      ++counted.hash_mismatch;
    }
    r.prompt.reserve(row.hash_ids.size() + 1);
    int32_t placed = 0;
    for (size_t i = 0; i < row.hash_ids.size() && placed < row.input_length; ++i) {
      const int32_t length = std::min(kMooncakeBlockTokens, row.input_length - placed);
      r.prompt.push_back({hash_combine(kMooncakeBlockContent, row.hash_ids[i]), length});
      placed += length;
    }
    if (placed < row.input_length) {
      r.prompt.push_back({hash_combine(kMooncakeTailContent, static_cast<uint64_t>(r.id)),
                          row.input_length - placed});
    }
    requests.push_back(std::move(r));
  }
  if (requests.empty()) {
    throw_input_error(path, 0,
                      text.empty() ? "empty file, expected one JSON object per line"
                                   : "no requests, expected one JSON object per line");
  }
  counted.requests = std::ssize(requests);
  if (stats != nullptr) *stats = counted;
  return requests;
}

}  // namespace tinyserve
