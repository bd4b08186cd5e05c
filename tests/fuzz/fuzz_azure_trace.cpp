#define TINYSERVE_FUZZ_PARSE parse_azure_trace
#include "tests/fuzz/fuzz_trace.inc"
