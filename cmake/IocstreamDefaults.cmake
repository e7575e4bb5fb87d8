# Warnings are errors on our own targets only (never on third-party headers, which are
# included as SYSTEM through their imported targets).
function(iocstream_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror
                                           -Wno-missing-field-initializers)
endfunction()

# iocstream_module(NAME SOURCES... DEPS ...): one static library per module,
# alias iocstream::NAME, public headers under include/iocstream/NAME.
function(iocstream_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(iocstream_${name} STATIC ${ARG_SOURCES})
  add_library(iocstream::${name} ALIAS iocstream_${name})
  target_include_directories(iocstream_${name}
    PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(iocstream_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  iocstream_target_defaults(iocstream_${name})
endfunction()
