// One list of names per enum: the scenario loader, the command line, the GUI and the outputs all
// read an option's names from the list beside its enum, so they never disagree.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tinyserve {

template <typename E>
struct Named {
  E value;
  std::string_view name;
};

template <typename E>
constexpr std::string_view name_of(std::span<const Named<E>> names, E value) {
  for (const Named<E>& n : names) {
    if (n.value == value) return n.name;
  }
  return "?";
}

template <typename E>
constexpr std::optional<E> parse_named(std::span<const Named<E>> names, std::string_view text) {
  for (const Named<E>& n : names) {
    if (n.name == text) return n.value;
  }
  return std::nullopt;
}

// "a, b, c" (for messages and help texts).
template <typename E>
std::string joined_names(std::span<const Named<E>> names, std::string_view separator = ", ") {
  std::string out;
  for (const Named<E>& n : names) {
    if (!out.empty()) out += separator;
    out += n.name;
  }
  return out;
}

}  // namespace tinyserve
