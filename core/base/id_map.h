// A small open-addressing hash map from non-negative int32 ids to uint32 values (linear probing,
// backward-shift deletion): the engine looks sequences up several times per step, and
// std::unordered_map's node chasing showed in profiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tinyserve {

class IdMap {
 public:
  IdMap() : keys_(16, kEmpty), values_(16) {}

  size_t size() const { return size_; }
  bool contains(int32_t key) const { return find(key) != nullptr; }

  const uint32_t* find(int32_t key) const {
    for (size_t i = home(key);; i = (i + 1) & mask()) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }
  uint32_t at(int32_t key) const { return *find(key); }  // precondition: contains(key)

  void insert(int32_t key, uint32_t value) {  // precondition: key >= 0, !contains(key)
    if ((size_ + 1) * 4 > keys_.size() * 3) grow();
    size_t i = home(key);
    while (keys_[i] != kEmpty) i = (i + 1) & mask();
    keys_[i] = key;
    values_[i] = value;
    ++size_;
  }

  void erase(int32_t key) {  // precondition: contains(key)
    size_t i = home(key);
    while (keys_[i] != key) i = (i + 1) & mask();
    // Shift later members of the probe run back so no lookup stops early.
    for (size_t j = (i + 1) & mask(); keys_[j] != kEmpty; j = (j + 1) & mask()) {
      const size_t h = home(keys_[j]);
      const bool movable = i <= j ? (h <= i || h > j) : (h <= i && h > j);
      if (movable) {
        keys_[i] = keys_[j];
        values_[i] = values_[j];
        i = j;
      }
    }
    keys_[i] = kEmpty;
    --size_;
  }

  template <typename F>
  void for_each(F&& f) const {
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i] != kEmpty) f(keys_[i], values_[i]);
    }
  }

 private:
  static constexpr int32_t kEmpty = -1;
  size_t mask() const { return keys_.size() - 1; }
  size_t home(int32_t key) const {
    return static_cast<size_t>(
               (static_cast<uint64_t>(static_cast<uint32_t>(key)) * 0x9e3779b97f4a7c15ull) >> 32) &
           mask();
  }
  void grow() {
    std::vector<int32_t> keys;
    std::vector<uint32_t> values;
    keys.swap(keys_);
    values.swap(values_);
    keys_.assign(keys.size() * 2, kEmpty);
    values_.assign(keys.size() * 2, 0);
    size_ = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] != kEmpty) insert(keys[i], values[i]);
    }
  }

  std::vector<int32_t> keys_;
  std::vector<uint32_t> values_;
  size_t size_ = 0;
};

}  // namespace tinyserve
