#define TINYSERVE_FUZZ_PARSE parse_mooncake_trace
#include "tests/fuzz/fuzz_trace.inc"
