# embed_bytes(FILE OUT): sets OUT to FILE's bytes as the body of a C++ char array initializer,
# 16 bytes a line ('\x74','\x65',...). Fails on an empty file (a zero-sized array). Included by
# the scripts that embed the flame graph assets (src/output/assets/embed.cmake) and the web UI
# (src/serve/embed.cmake) at build time.
function(embed_bytes file out)
  file(READ "${file}" hex HEX)
  if(hex STREQUAL "")
    message(FATAL_ERROR "${file} is empty")
  endif()
  string(LENGTH "${hex}" length)
  set(bytes "")
  foreach(at RANGE 0 ${length} 32)
    string(SUBSTRING "${hex}" ${at} 32 line)
    if(NOT line STREQUAL "")
      string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," line "${line}")
      string(APPEND bytes "${line}\n")
    endif()
  endforeach()
  set(${out} "${bytes}" PARENT_SCOPE)
endfunction()
