# The desktop app's scripted mode under Xvfb, then checks of its screenshot and its stderr.
# cmake -DTINYSERVE=... -DCHECKER=... -DXVFB_RUN=... -DOUT=... [-DARGS=a;b;...] [-DSIZE=WxH]
#       [-DMAX_P95_MS=N] -P gui_screenshot.cmake
# ARGS: the gui arguments (default: poisson_zipf, 60 frames of 20 steps); MAX_P95_MS: fail when
# the 95th percentile of the frame timer's CPU time exceeds it.
if(NOT DEFINED SIZE)
  set(SIZE 1600x1000)
endif()
if(NOT DEFINED ARGS)
  set(ARGS poisson_zipf --frames 60 --steps-per-frame 20)
endif()
string(REPLACE "x" ";" dims ${SIZE})
list(GET dims 0 width)
list(GET dims 1 height)
file(REMOVE ${OUT})
execute_process(
  COMMAND ${XVFB_RUN} -a -s "-screen 0 ${width}x${height}x24"
          ${TINYSERVE} gui ${ARGS} --screenshot ${OUT} --size ${width}x${height}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  TIMEOUT 240)
message(STATUS "stdout:\n${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tinyserve gui exited with ${rc}; stderr:\n${err}")
endif()
string(TOLOWER "${err}" err_lower)
if(err_lower MATCHES "error|shader|glsl|opengl|glfw")
  message(FATAL_ERROR "tinyserve gui wrote a GL, shader or window error to stderr:\n${err}")
endif()
if(NOT err STREQUAL "")
  message(STATUS "stderr (no error in it):\n${err}")
endif()
execute_process(COMMAND ${CHECKER} ${OUT} ${width} ${height} 50 RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the screenshot ${OUT} failed its check")
endif()
if(DEFINED MAX_P95_MS)
  if(NOT out MATCHES "frame CPU ms: mean [0-9.]+, p50 [0-9.]+, p95 ([0-9.]+)")
    message(FATAL_ERROR "no frame timer report in stdout")
  endif()
  set(p95 ${CMAKE_MATCH_1})
  if(p95 GREATER ${MAX_P95_MS})
    message(FATAL_ERROR "frame CPU time p95 ${p95} ms exceeds ${MAX_P95_MS} ms")
  endif()
  message(STATUS "frame CPU time p95 ${p95} ms (limit ${MAX_P95_MS} ms)")
endif()
