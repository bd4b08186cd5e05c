# The desktop app's scripted mode under Xvfb, then checks of its screenshot and its stderr.
# cmake -DTINYSERVE=... -DCHECKER=... -DXVFB_RUN=... -DOUT=... -P gui_screenshot.cmake
set(width 1600)
set(height 1000)
file(REMOVE ${OUT})
execute_process(
  COMMAND ${XVFB_RUN} -a -s "-screen 0 ${width}x${height}x24"
          ${TINYSERVE} gui poisson_zipf --frames 60 --steps-per-frame 20 --screenshot ${OUT}
          --size ${width}x${height}
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
