#include "core/workload/request_file.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "core/text/text_file.h"

namespace tinyserve {

namespace {

int32_t positive_int32(const nlohmann::json& v, const char* what) {
  const auto x = v.get<int64_t>();
  if (x < 1 || x > std::numeric_limits<int32_t>::max()) {
    throw std::invalid_argument(cat(what, ": expected an integer in [1, 2^31), found ", x));
  }
  return static_cast<int32_t>(x);
}

}  // namespace

std::vector<RequestSpec> read_request_file(const std::string& path, int64_t max_requests) {
  const std::string text = read_text_file(path);
  std::vector<RequestSpec> out;
  int64_t number = 0;
  for (size_t begin = 0; begin < text.size();) {
    if (max_requests > 0 && static_cast<int64_t>(out.size()) >= max_requests) break;
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    try {
      const nlohmann::json j = nlohmann::json::parse(line);
      RequestSpec r;
      r.id = j.at("id").get<int64_t>();
      if (r.id < 0 || r.id >= (int64_t{1} << 32)) {
        throw std::invalid_argument(cat("id: expected an integer in [0, 2^32), found ", r.id));
      }
      r.arrival = j.at("arrival").get<double>();
      if (!(r.arrival >= 0)) throw std::invalid_argument("arrival: expected a number >= 0");
      for (const nlohmann::json& seg : j.at("prompt")) {
        if (!seg.is_array() || seg.size() != 2) {
          throw std::invalid_argument("prompt: expected [[content, length], ...]");
        }
        r.prompt.push_back({seg[0].get<uint64_t>(), positive_int32(seg[1], "prompt length")});
      }
      if (r.prompt.empty()) throw std::invalid_argument("prompt: expected at least one segment");
      r.output_len = positive_int32(j.at("output_len"), "output_len");
      if (j.contains("n")) r.n = positive_int32(j.at("n"), "n");
      out.push_back(std::move(r));
    } catch (const std::exception& e) {
      throw_input_error(path, number, cat("expected a workload request: ", e.what()));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const RequestSpec& a, const RequestSpec& b) {
    return a.arrival < b.arrival;
  });
  return out;
}

}  // namespace tinyserve
