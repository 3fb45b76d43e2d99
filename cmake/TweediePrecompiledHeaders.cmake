# Precompiled headers: every translation unit of a target parses Eigen, the tweedie headers and
# (per target) CLI11 or doctest once instead of once per file. Parsing those headers is 30-60 % of
# a file's compile time, so this shortens a cold build (CI's two full builds) by about that share.
# TWEEDIE_PCH=OFF builds without them, for checking that every file includes what it uses.
option(TWEEDIE_PCH "Precompile the common headers of each target" ON)

# tweedie_precompile(target [SKIP file...] HEADERS header...)
function(tweedie_precompile target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SKIP;HEADERS")
  if(NOT TWEEDIE_PCH)
    return()
  endif()
  target_precompile_headers(${target} PRIVATE ${arg_HEADERS})
  if(arg_SKIP)
    set_source_files_properties(${arg_SKIP} TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endif()
endfunction()
