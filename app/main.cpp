#include <cstdio>

int main() {
  std::puts("tinyserve");
  return 0;
}
