# The test prefetch_calls_through_line: every prefetch of src/ and include/ goes through
# prefetch::Line (include/iocstream/core/prefetch.h). GCC counts __builtin_prefetch as no side
# effect, so a lambda or function that only calls it is found pure and its calls are deleted at
# -O2, silently (it removed every prefetch of Pipeline::ProcessDecoded until session 33); Line
# adds the empty volatile asm that keeps them. Fails on any call of __builtin_prefetch or
# _mm_prefetch (GCC's is __builtin_prefetch) in another file, naming the file and the line (in the
# message, `;` shows as `,` and brackets as parentheses).
#
#   cmake -DSOURCE_DIR=<repository> -P prefetch_calls.cmake
cmake_minimum_required(VERSION 3.25)

set(allowed "include/iocstream/core/prefetch.h")
set(call "(__builtin_prefetch|_mm_prefetch)[ \t]*\\(")
file(GLOB_RECURSE files RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/src/*" "${SOURCE_DIR}/include/*")
if(NOT files)
  message(FATAL_ERROR "prefetch_calls: no files under ${SOURCE_DIR}/src or include")
endif()
set(calls "")
foreach(file IN LISTS files)
  if(file STREQUAL allowed)
    continue()
  endif()
  file(READ "${SOURCE_DIR}/${file}" text)
  if(NOT text MATCHES "${call}")
    continue()
  endif()
  # One list item per line: characters CMake's lists treat specially become harmless ones first.
  string(REPLACE ";" "," text "${text}")
  string(REPLACE "[" "(" text "${text}")
  string(REPLACE "]" ")" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  set(number 0)
  foreach(line IN LISTS lines)
    math(EXPR number "${number} + 1")
    if(line MATCHES "${call}")
      string(STRIP "${line}" line)
      list(APPEND calls "${file}:${number}: ${line}")
    endif()
  endforeach()
endforeach()
if(calls)
  list(JOIN calls "\n  " text)
  message(FATAL_ERROR
    "prefetch_calls: prefetches that do not go through prefetch::Line:\n  ${text}\n"
    "Call prefetch::Line, Bytes or Text (include/iocstream/core/prefetch.h) instead: a bare "
    "__builtin_prefetch in a lambda or function that does nothing else is deleted at -O2.")
endif()
list(LENGTH files count)
message("prefetch_calls: no prefetch outside ${allowed} (${count} files under src/ and include/)")
