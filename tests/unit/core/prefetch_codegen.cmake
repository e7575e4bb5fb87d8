# The test prefetch_codegen: counts the prefetch instructions of each function of
# prefetch_codegen.cc's object (always compiled with -O2) in its disassembly and fails unless
# every one has the count it must have. A count below it is prefetches the optimiser deleted:
# see prefetch_codegen.cc and include/iocstream/core/prefetch.h for why that happens.
#
#   cmake -DOBJDUMP=objdump -DOBJECT=prefetch_codegen.o -DPROCESSOR=x86_64
#         -DEXPECT=LineAhead=2,ProcessDecodedShape=6 -P prefetch_codegen.cmake
#
# A function counts its own instructions and those of its lambdas, in case they are not inlined
# (their names start with the function's). Only x86-64 is counted (prefetcht0, prefetchw, ...);
# elsewhere the test prints SKIPPED, which CTest reports as skipped.
cmake_minimum_required(VERSION 3.25)

if(NOT PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  message("prefetch_codegen: SKIPPED: prefetch instructions are counted on x86-64 only, "
          "this build is for ${PROCESSOR}")
  return()
endif()
if(NOT OBJDUMP OR NOT EXISTS "${OBJDUMP}")
  message(FATAL_ERROR "prefetch_codegen: objdump not found ('${OBJDUMP}'): it is in binutils "
                      "(scripts/install-deps.sh installs it)")
endif()
if(NOT EXISTS "${OBJECT}")
  message(FATAL_ERROR "prefetch_codegen: ${OBJECT} is missing: build the target prefetch_codegen")
endif()

execute_process(COMMAND "${OBJDUMP}" -d -C --no-show-raw-insn "${OBJECT}"
                OUTPUT_VARIABLE disassembly ERROR_VARIABLE error RESULT_VARIABLE failed)
if(failed)
  message(FATAL_ERROR "prefetch_codegen: ${OBJDUMP} -d ${OBJECT} failed: ${error}")
endif()

# One list item per line: characters CMake's lists treat specially become harmless ones first.
string(REPLACE ";" "," disassembly "${disassembly}")
string(REPLACE "[" "(" disassembly "${disassembly}")
string(REPLACE "]" ")" disassembly "${disassembly}")
string(REPLACE "\n" ";" lines "${disassembly}")

set(failures "")
string(REPLACE "," ";" expect "${EXPECT}")
foreach(expected IN LISTS expect)
  string(REGEX MATCH "^([A-Za-z0-9_]+)=([0-9]+)$" pair "${expected}")
  if(NOT pair)
    message(FATAL_ERROR "prefetch_codegen: EXPECT item '${expected}' is not FUNCTION=COUNT")
  endif()
  set(function "${CMAKE_MATCH_1}")
  set(want "${CMAKE_MATCH_2}")
  set(found 0)
  set(seen FALSE)
  set(inside FALSE)
  set(listing "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^[0-9a-f]+ <(.*)>:$")
      string(FIND "${CMAKE_MATCH_1}" "prefetch_codegen::${function}(" at)
      if(at EQUAL -1)
        set(inside FALSE)
      else()
        set(inside TRUE)
        set(seen TRUE)
      endif()
    elseif(inside AND line MATCHES "^ *[0-9a-f]+:[ \t]+(prefetch[a-z0-9]*)[ \t]")
      math(EXPR found "${found} + 1")
      string(APPEND listing "\n    ${line}")
    endif()
  endforeach()
  if(NOT seen)
    list(APPEND failures "${function}: not in the object (renamed in prefetch_codegen.cc?)")
  elseif(NOT found EQUAL want)
    list(APPEND failures "${function}: ${found} prefetch instruction(s), ${want} expected${listing}")
  else()
    message("prefetch_codegen: ${function}: ${found} prefetch instruction(s), as expected${listing}")
  endif()
endforeach()

if(failures)
  list(JOIN failures "\n  " text)
  message(FATAL_ERROR
    "prefetch_codegen: prefetch instructions missing from ${OBJECT}:\n  ${text}\n"
    "Fewer than expected is prefetches the optimiser deleted as dead code: does "
    "prefetch::Line (include/iocstream/core/prefetch.h) still pair __builtin_prefetch with its "
    "empty asm volatile? (A change to prefetch_codegen.cc that changes a count must change "
    "its EXPECT in tests/unit/core/CMakeLists.txt.)")
endif()
