# iocstream::mapping_config: loads CSV column mappings (config/mappings/*.yaml). Included from
# src/app/CMakeLists.txt; a library of its own so that ingest tests can use it without the app.
add_library(iocstream_mapping_config STATIC ${CMAKE_CURRENT_LIST_DIR}/mapping_config.cc)
add_library(iocstream::mapping_config ALIAS iocstream_mapping_config)
target_include_directories(iocstream_mapping_config PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(iocstream_mapping_config
  PUBLIC iocstream::ingest
  PRIVATE yaml-cpp date::date date::date-tz)
iocstream_target_defaults(iocstream_mapping_config)
