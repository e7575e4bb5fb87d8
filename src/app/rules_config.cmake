# iocstream::rules_config: YAML loaders for the rules module's data files (business calendars,
# procedure catalog). Kept apart from iocstream::app so tests and tools can load the shipped
# config without the whole application. Included from src/app/CMakeLists.txt.
add_library(iocstream_rules_config STATIC ${CMAKE_CURRENT_LIST_DIR}/rules_config.cc)
add_library(iocstream::rules_config ALIAS iocstream_rules_config)
target_include_directories(iocstream_rules_config
  PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(iocstream_rules_config PUBLIC iocstream::rules PRIVATE yaml-cpp)
iocstream_target_defaults(iocstream_rules_config)
